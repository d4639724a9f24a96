"""Goals (docs/domain.md): a subject's goals per period, and setting one (goal:edit, audited).

A team without a goal of its own for a period shows the Σ of its counted users' goals (a `GoalView`
without a record)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.relay import to_base64

from db.forecasts import Subject
from db.forecasts.goals import GoalRecord, current_goals, goals_by_ids, insert_goal, team_member_goal_sums
from db.periods import Period, PeriodError, parse_period
from db.vocabulary import TEAM
from resolvers import validation as check
from resolvers.common import audit, money_text
from resolvers.context import Context
from resolvers.errors import Forbidden
from resolvers.forecasts import access
from resolvers.forecasts.access import subject_target


@dataclass(frozen=True)
class GoalView:
    """A stored goal, or (record None) a team's sum of its counted users' goals for a period."""

    subject: Subject
    pipeline_id: int
    period: str
    amount: Decimal
    set_at: datetime
    record: GoalRecord | None

    @classmethod
    def of(cls, record: GoalRecord) -> "GoalView":
        subject = Subject.of(record.user_id, record.team_id)
        return cls(subject, record.pipeline_id, record.period, record.amount, record.set_at, record)


def db_period(key: str) -> Period | None:
    """A stored period key as a period (None for a key this version cannot read)."""
    try:
        return parse_period(key)
    except PeriodError:
        return None


async def goals_of(
    context: Context, subject: Subject, pipeline_id: int, start: Period | None, end: Period | None
) -> list[GoalView]:
    """The subject's current goals in the pipeline's period kind, between `start` and `end` (inclusive),
    batched over every subject asked in the request; none where they are not open to the viewer."""
    if not (await access.readable(context, [subject]))[0]:
        return []
    record = await access.known_pipeline(context, pipeline_id)
    for bound in (start, end):
        if bound is not None:
            await access.pipeline_and_period(context, pipeline_id, bound)

    async def fetch(conn: AsyncConnection, keys: Sequence[int]) -> dict[int, list[GoalView]]:
        stored = await current_goals(conn, subject.kind, keys, pipeline_id)
        sums = await team_member_goal_sums(conn, keys, pipeline_id) if subject.kind == TEAM else {}
        views: dict[int, list[GoalView]] = {}
        for key in keys:
            own = {g.period: GoalView.of(g) for g in stored[key]}
            summed = {
                period: GoalView(Subject(subject.kind, key), pipeline_id, period, amount, at, None)
                for period, (amount, at) in sums.get(key, {}).items()
            }
            views[key] = [own.get(p) or summed[p] for p in sorted(own.keys() | summed.keys())]
        return views

    loader = context.loaders.by_arguments(("goals", subject.kind, pipeline_id), fetch, [])
    every: list[GoalView] = await loader.load(subject.id)
    chosen = []
    for view in every:
        period = db_period(view.period)
        if period is None or period.kind != record.period_kind:
            continue  # goals of the other period kind wait, stored, for the setting to come back
        if (start is None or period >= start) and (end is None or period <= end):
            chosen.append(view)
    return chosen


async def set_goal(
    context: Context, subject: Subject, pipeline_id: int, period: Period, amount: Decimal
) -> GoalRecord:
    amount = check.money(amount)
    await access.existing(context, subject)
    await access.pipeline_and_period(context, pipeline_id, period)
    if not await access.may(context, "goal", "edit", subject):
        if (
            subject == Subject.user(context.viewer.id)
            and context.access.grant("goal", "edit").scope == "TEAM"
        ):
            raise Forbidden(
                "a manager cannot set their own goal: it is set by those who manage them (goal:edit)"
            )
        raise Forbidden("setting that goal needs the goal:edit permission over its subject")
    async with context.engine.begin() as conn:
        before = (await current_goals(conn, subject.kind, [subject.id], pipeline_id))[subject.id]
        previous = next((g.amount for g in before if g.period == period.key), None)
        goal = await insert_goal(conn, subject, pipeline_id, period.key, amount, context.viewer.id)
        details = {
            "pipeline": to_base64("Pipeline", pipeline_id),
            "period": period.key,
            "before": None if previous is None else money_text(previous),
            "after": money_text(amount),
        }
        await audit(conn, context, "goal.set", subject_target(subject), details)
    return goal


async def goal_by_ids(context: Context, ids: Sequence[int]) -> list[GoalRecord | None]:
    """Stored goals by id, null where the viewer may not read their subject's goals."""
    async with context.engine.connect() as conn:
        stored = await goals_by_ids(conn, ids)
    return await access.only_readable(context, ids, stored)
