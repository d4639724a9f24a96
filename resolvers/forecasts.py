"""The forecast tool: goals, submissions and the forecast table, with team-only visibility (§4–§6).

forecast:view decides whose rows a viewer sees (ALL, TEAM: their teams and teammates, OWN: themselves).
Goals, submissions and everything derived from them are open only to ALL viewers, to the subject
themselves, and to the managers of the subject; elsewhere they are null and the row is `restricted`.
"""

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from db import forecasts as db
from db.audit import record
from db.forecasts import DealSums, GoalRecord, Subject, SubmissionRecord, TableFigures, ViewerTeams
from db.pagination import Key, Page
from db.periods import Period
from db.pipelines import PipelineRecord
from db.teams import TeamRecord
from db.users import UserRecord
from resolvers import validation as check
from resolvers.common import found
from resolvers.context import Context
from resolvers.errors import BadUserInput, Conflict, Forbidden, NotFound
from resolvers.pipelines import company_settings, pipeline
from resolvers.teams import teams_by_ids
from resolvers.users import users_by_ids

CATEGORIES = ("NOT_FORECASTED", "PIPELINE", "BEST_CASE", "COMMIT", "CLOSED_WON")
IN_TOTAL = ("PIPELINE", "BEST_CASE", "COMMIT", "CLOSED_WON")
ZERO = Decimal(0)
MAX_KEY = 200


async def _viewer_teams(context: Context) -> ViewerTeams:
    async def fetch(conn: AsyncConnection, keys: Sequence[int]) -> dict[int, ViewerTeams]:
        return {key: await db.viewer_teams(conn, key) for key in keys}

    teams_: ViewerTeams = await context.loaders.by_arguments(("viewer teams",), fetch, None).load(
        context.viewer.id
    )
    return teams_


async def _memberships(context: Context, user_ids: Sequence[int]) -> list[set[int]]:
    async def fetch(conn: AsyncConnection, keys: Sequence[int]) -> dict[int, set[int]]:
        return await db.users_memberships(conn, keys)

    return list(
        await context.loaders.by_arguments(("team ids of users",), fetch, set()).load_many(list(user_ids))
    )


def _view_scope(context: Context) -> str:
    scope = context.access.grant("forecast", "view").scope
    if scope == "NONE":
        raise Forbidden("the forecast needs the forecast:view permission")
    return scope


async def _teams_of_users(context: Context, subjects: Sequence[Subject]) -> dict[int, set[int]]:
    user_ids = [s.id for s in subjects if s.kind == "user"]
    return dict(zip(user_ids, await _memberships(context, user_ids), strict=True))


async def can_view(context: Context, subjects: Sequence[Subject]) -> list[bool]:
    """Whether forecast:view reaches each subject's row."""
    scope = _view_scope(context)
    if scope == "ALL":
        return [True] * len(subjects)
    mine = await _viewer_teams(context)
    member_of = await _teams_of_users(context, subjects)
    result = []
    for subject in subjects:
        if subject.kind == "user":
            result.append(
                subject.id == context.viewer.id
                or (scope == "TEAM" and bool(member_of[subject.id] & mine.reach))
            )
        else:
            result.append(scope == "TEAM" and subject.id in mine.reach)
    return result


async def is_open(context: Context, subjects: Sequence[Subject]) -> list[bool]:
    """Whether the subjects' goals and submissions are open to the viewer (not the team-only view)."""
    if context.access.grant("forecast", "view").scope == "ALL":
        return [True] * len(subjects)
    mine = await _viewer_teams(context)
    member_of = await _teams_of_users(context, subjects)
    return [
        (s.kind == "user" and (s.id == context.viewer.id or bool(member_of[s.id] & mine.managed)))
        or (s.kind == "team" and s.id in mine.managed)
        for s in subjects
    ]


async def _pipeline_and_period(context: Context, pipeline_id: int, period: Period) -> PipelineRecord:
    record = found(await pipeline(context, pipeline_id), "Pipeline", pipeline_id)
    if period.kind != record.period_kind:
        example = "2026-Q4" if record.period_kind == "QUARTER" else "2026-11"
        raise BadUserInput(
            f"period {period.key}: pipeline {record.name!r} forecasts by {record.period_kind}; "
            f"give a period such as {example}"
        )
    return record


# The table


@dataclass
class Row:
    subject: Subject
    goal: Decimal | None = None
    closed_won: Decimal = ZERO
    gap: Decimal | None = None
    goal_attainment: float | None = None
    pipeline_value: Decimal = ZERO
    pipeline_coverage: float | None = None
    categories: list[tuple[str, Decimal, int]] = field(default_factory=list)
    total: Decimal = ZERO
    total_coverage: float | None = None
    weighted_pipeline: Decimal = ZERO
    deal_count: int = 0
    submission: SubmissionRecord | None = None
    submissions_total: Decimal | None = None
    accuracy: float | None = None
    restricted: bool = False


@dataclass
class Table:
    pipeline: PipelineRecord
    period: Period
    fiscal_start: int
    team: TeamRecord | None
    summary: Row
    teams: list[Row]
    users: list[Row]
    user_records: dict[int, UserRecord]
    team_records: dict[int, TeamRecord]


def _ratio(part: Decimal, whole: Decimal | None) -> float | None:
    return None if whole is None or whole == 0 else float(part / whole)


def _row(
    subject: Subject,
    sums: DealSums | None,
    *,
    weighted: bool,
    goal: Decimal | None,
    submission: SubmissionRecord | None,
    submissions_total: Decimal | None,
    ended: bool,
    open_: bool,
) -> Row:
    """One row's numbers from its grouped deal sums (DOMAIN.md §5)."""
    by = sums.by_category if sums else {}
    closed_won = sum((c for (cat, state), (_, c, _) in by.items() if state == "WON"), ZERO)
    pipeline_value = sum((c for (_, state), (_, c, _) in by.items() if state == "OPEN"), ZERO)
    categories = []
    for name in CATEGORIES:
        cells = [(n, c, w) for (cat, _), (n, c, w) in by.items() if cat == name]
        amount = (
            closed_won if name == "CLOSED_WON" else sum((w if weighted else c for _, c, w in cells), ZERO)
        )
        categories.append((name, amount, sum(n for n, _, _ in cells)))
    total = sum((amount for name, amount, _ in categories if name in IN_TOTAL), ZERO)
    row = Row(
        subject,
        closed_won=closed_won,
        pipeline_value=pipeline_value,
        categories=categories,
        total=total,
        weighted_pipeline=sum((w for _, _, w in by.values()), ZERO),
        deal_count=sum(n for n, _, _ in by.values()),
    )
    if not open_:
        row.restricted = True
        return row
    row.goal, row.submission, row.submissions_total = goal, submission, submissions_total
    if goal is not None:
        row.gap = goal - closed_won
        row.goal_attainment = _ratio(closed_won, goal)
        row.pipeline_coverage = _ratio(pipeline_value, goal)
        row.total_coverage = _ratio(total, goal)
    if ended and submission is not None and closed_won != 0:
        row.accuracy = max(0.0, 1 - float(abs(closed_won - submission.amount) / closed_won))
    return row


def _combined(subject: Subject, parts: Sequence[DealSums | None]) -> DealSums:
    """Deal sums of disjoint groups added up (a handful of aggregates, never deal rows)."""
    merged: dict[tuple[str, str], tuple[int, Decimal, Decimal]] = {}
    for part in parts:
        for key, (n, c, w) in (part.by_category if part else {}).items():
            m = merged.get(key, (0, ZERO, ZERO))
            merged[key] = (m[0] + n, m[1] + c, m[2] + w)
    return DealSums(merged)


async def forecast_table(context: Context, pipeline_id: int, period: Period, team_id: int | None) -> Table:
    scope = _view_scope(context)
    record = await _pipeline_and_period(context, pipeline_id, period)
    fiscal_start = (await company_settings(context)).fiscal_year_start_month
    team: TeamRecord | None = None
    if team_id is not None:
        [team] = await teams_by_ids(context, [team_id])
        if team is None or not (await can_view(context, [Subject("team", team_id)]))[0]:
            raise NotFound(f"no Team with id {_global('Team', team_id)!r}")
    elif scope == "TEAM":
        mine = await _viewer_teams(context)
        tops = await _highest(context, mine.member)
        if len(tops) == 1:
            team = tops[0]
    async with context.engine.connect() as conn:
        row_teams, people = await _rows_of_table(context, conn, scope, team)
        user_ids = [p[0] for p in people]
        team_ids = [t.id for t in row_teams] + ([team.id] if team else [])
        figures = await db.table_figures(
            conn,
            pipeline_id=pipeline_id,
            period=period.key,
            start=period.start(fiscal_start),
            end=period.end(fiscal_start),
            user_ids=user_ids,
            team_ids=team_ids,
            company=team is None and scope == "ALL",
            visible=lambda owner: context.access.owners("deal", "view", owner),
        )
    records = {p[0]: UserRecord(*p[:5]) for p in people}
    context.loaders.prime_users(list(records.values()))
    subjects = [Subject("user", i) for i in user_ids] + [Subject("team", t.id) for t in row_teams]
    if team:
        subjects.append(Subject("team", team.id))
    opened = dict(zip(subjects, await is_open(context, subjects), strict=True))
    ended = period.end(fiscal_start) < date.today()
    weighted = record.forecast_amount == "WEIGHTED"

    def make(subject: Subject, sums: DealSums | None = None) -> Row:
        key = (subject.kind, subject.id)
        goal = figures.goals.get(key)
        if subject.kind == "team" and goal is None:
            goal = figures.goals.get(("team_sum", subject.id))
        return _row(
            subject,
            sums if sums is not None else figures.deals.get(key),
            weighted=weighted,
            goal=goal,
            submission=figures.submissions.get(key),
            submissions_total=figures.submission_sums.get(("team_sum", subject.id), ZERO)
            if subject.kind == "team"
            else None,
            ended=ended,
            open_=opened[subject],
        )

    user_rows = [make(Subject("user", i)) for i in user_ids]
    team_rows = [make(Subject("team", t.id)) for t in row_teams]
    if team is not None:
        summary = make(Subject("team", team.id))
    elif len(user_rows) == 1 and not team_rows:
        summary = user_rows[0]
    else:
        summary = _summary(
            context,
            figures,
            team_rows,
            user_rows,
            people,
            weighted=weighted,
            ended=ended,
            company=scope == "ALL",
        )
    team_records = {t.id: t for t in [*row_teams, *([team] if team else [])]}
    if summary.subject.kind == "user" and summary.subject.id not in records:
        records[summary.subject.id] = context.viewer
    return Table(record, period, fiscal_start, team, summary, team_rows, user_rows, records, team_records)


async def _rows_of_table(
    context: Context, conn: AsyncConnection, scope: str, team: TeamRecord | None
) -> tuple[list[TeamRecord], list[tuple[int, str, str, bool, bool, int | None]]]:
    """The team rows and the user rows of a table (§6: a team's, the company's, the viewer's teams')."""
    if team is not None:
        return await _children(context, team.id), await db.table_users(conn, [team.id])
    if scope == "ALL":
        return [
            t for t in await teams_by_ids(context, await db.root_team_ids(conn)) if t
        ], await db.table_users(conn, None)
    tops = await _highest(context, (await _viewer_teams(context)).member) if scope == "TEAM" else []
    people = await db.table_users(conn, [t.id for t in tops]) if tops else []
    if not people:  # OWN, or a viewer without teams: their own row
        viewer = context.viewer
        people = [(viewer.id, viewer.name, viewer.email, viewer.active, viewer.sales_seat, None)]
    return tops, people


def _summary(
    context: Context,
    figures: TableFigures,
    team_rows: list[Row],
    user_rows: list[Row],
    people: list[tuple[int, str, str, bool, bool, int | None]],
    *,
    weighted: bool,
    ended: bool,
    company: bool,
) -> Row:
    """The totals of a table that is not one team's: the company, or several top teams of a viewer.

    Its subject is the viewer (a table of several teams has no single subject); its goal and submission
    total add up the teams' (and, for the company, the teamless users') values when all are open.
    """
    teamless = [row for row, person in zip(user_rows, people, strict=True) if person[5] is None]
    parts = team_rows + (teamless if company else [])
    sums = (
        figures.deals.get(("company", None))
        if company
        else _combined(
            Subject("user", context.viewer.id), [figures.deals.get(("team", r.subject.id)) for r in team_rows]
        )
    )
    open_ = all(not r.restricted for r in parts)
    goals = [r.goal for r in parts if r.goal is not None]
    submitted = [
        r.submissions_total if r.subject.kind == "team" else (r.submission.amount if r.submission else None)
        for r in parts
    ]
    return _row(
        Subject("user", context.viewer.id),
        sums,
        weighted=weighted,
        goal=sum(goals, ZERO) if goals else None,
        submission=None,
        submissions_total=sum((s for s in submitted if s is not None), ZERO),
        ended=ended,
        open_=open_,
    )


async def _children(context: Context, team_id: int) -> list[TeamRecord]:
    return await context.loaders.children_by_team.load(team_id)


async def _highest(context: Context, team_ids: frozenset[int]) -> list[TeamRecord]:
    """The viewer's teams that no other of their teams contains."""
    if not team_ids:
        return []
    async with context.engine.connect() as conn:
        below = await db.descendants(conn, sorted(team_ids))
    tops = [t for t in team_ids if not any(t in below[o] for o in team_ids if o != t)]
    return sorted((t for t in await teams_by_ids(context, tops) if t), key=lambda t: (t.name, t.id))


def _global(type_name: str, key: int) -> str:
    from strawberry.relay import to_base64  # noqa: PLC0415

    return to_base64(type_name, key)


async def subject_row(context: Context, subject: Subject, pipeline_id: int, period: Period) -> Row | None:
    """User.forecast and Team.forecast: one row, batched over every subject asked in the request.

    Null outside the viewer's forecast:view, and for users without a sales seat (they have no row)."""
    if not (await can_view(context, [subject]))[0]:
        return None
    if subject.kind == "user":
        [user] = await users_by_ids(context, [subject.id])
        if user is None or not user.sales_seat:
            return None
    record = await _pipeline_and_period(context, pipeline_id, period)
    fiscal_start = (await company_settings(context)).fiscal_year_start_month
    visible = functools.partial(context.access.owners, "deal", "view")

    async def fetch(conn: AsyncConnection, keys: Sequence[int]) -> dict[int, TableFigures]:
        figures = await db.table_figures(
            conn,
            pipeline_id=pipeline_id,
            period=period.key,
            start=period.start(fiscal_start),
            end=period.end(fiscal_start),
            user_ids=keys if subject.kind == "user" else [],
            team_ids=keys if subject.kind == "team" else [],
            company=False,
            visible=visible,
        )
        return dict.fromkeys(keys, figures)

    loader = context.loaders.by_arguments(("forecast rows", subject.kind, pipeline_id, period), fetch, None)
    figures: TableFigures = await loader.load(subject.id)
    key = (subject.kind, subject.id)
    goal = figures.goals.get(key)
    if subject.kind == "team" and goal is None:
        goal = figures.goals.get(("team_sum", subject.id))
    [open_] = await is_open(context, [subject])
    return _row(
        subject,
        figures.deals.get(key),
        weighted=record.forecast_amount == "WEIGHTED",
        goal=goal,
        submission=figures.submissions.get(key),
        submissions_total=figures.submission_sums.get(("team_sum", subject.id), ZERO)
        if subject.kind == "team"
        else None,
        ended=period.end(fiscal_start) < date.today(),
        open_=open_,
    )


# Goals


@dataclass(frozen=True)
class GoalView:
    """A stored goal, or (id None) a team's sum of its counted users' goals for a period."""

    subject: Subject
    pipeline_id: int
    period: str
    amount: Decimal
    set_at: datetime
    record: GoalRecord | None


async def goals_of(
    context: Context, subject: Subject, pipeline_id: int, start: Period | None, end: Period | None
) -> list[GoalView]:
    if not (await can_view(context, [subject]))[0] or not (await is_open(context, [subject]))[0]:
        return []
    record = found(await pipeline(context, pipeline_id), "Pipeline", pipeline_id)
    for bound in (start, end):
        if bound is not None:
            await _pipeline_and_period(context, pipeline_id, bound)

    async def fetch(conn: AsyncConnection, keys: Sequence[int]) -> dict[int, list[GoalView]]:
        stored = await db.current_goals(conn, subject.kind, keys, pipeline_id)
        sums = await db.team_member_goal_sums(conn, keys, pipeline_id) if subject.kind == "team" else {}
        views: dict[int, list[GoalView]] = {}
        for key in keys:
            own = {
                g.period: GoalView(Subject(subject.kind, key), pipeline_id, g.period, g.amount, g.set_at, g)
                for g in stored[key]
            }
            summed = {
                p: GoalView(Subject(subject.kind, key), pipeline_id, p, a, at, None)
                for p, (a, at) in sums.get(key, {}).items()
            }
            views[key] = [own.get(p) or summed[p] for p in sorted(own.keys() | summed.keys())]
        return views

    loader = context.loaders.by_arguments(("goals", subject.kind, pipeline_id), fetch, [])
    every: list[GoalView] = await loader.load(subject.id)
    kind = record.period_kind
    chosen = []
    for view in every:
        period = db_period(view.period)
        if period is None or period.kind != kind:
            continue  # goals of the other period kind wait, stored, for the setting to come back
        if (start is None or period >= start) and (end is None or period <= end):
            chosen.append(view)
    return chosen


def db_period(key: str) -> Period | None:
    from db.periods import PeriodError, parse_period  # noqa: PLC0415

    try:
        return parse_period(key)
    except PeriodError:
        return None


async def _may(context: Context, permission: str, subject: Subject) -> bool:
    """forecast:edit or goal:edit over a subject (§6): ALL anyone; TEAM what the viewer manages (and,
    for forecast:edit, themselves); OWN themselves."""
    scope = context.access.grant(*permission.split(":")).scope
    myself = subject.kind == "user" and subject.id == context.viewer.id
    if scope == "ALL":
        return True
    if scope == "OWN":
        return myself
    if scope != "TEAM":
        return False
    if myself:
        return permission == "forecast:edit"
    mine = await _viewer_teams(context)
    if subject.kind == "team":
        return subject.id in mine.managed
    [teams_of] = await _memberships(context, [subject.id])
    return bool(teams_of & mine.managed)


async def _existing(context: Context, subject: Subject) -> None:
    if subject.kind == "user":
        [user] = await users_by_ids(context, [subject.id])
        found(user, "User", subject.id)
    else:
        [team] = await teams_by_ids(context, [subject.id])
        found(team, "Team", subject.id)


async def set_goal(
    context: Context, subject: Subject, pipeline_id: int, period: Period, amount: Decimal
) -> GoalRecord:
    amount = check.money(amount)
    await _existing(context, subject)
    await _pipeline_and_period(context, pipeline_id, period)
    if not await _may(context, "goal:edit", subject):
        raise Forbidden("you may not set goals for that subject (goal:edit)")
    async with context.engine.begin() as conn:
        before = (await db.current_goals(conn, subject.kind, [subject.id], pipeline_id))[subject.id]
        previous = next((g.amount for g in before if g.period == period.key), None)
        goal = await db.insert_goal(conn, subject, pipeline_id, period.key, amount, context.viewer.id)
        await record(
            conn,
            actor_id=context.viewer.id,
            action="goal.set",
            target=f"{subject.kind}:{subject.id}",
            details={
                "pipeline": pipeline_id,
                "period": period.key,
                "before": None if previous is None else str(previous),
                "after": str(amount),
            },
        )
    return goal


# Submissions


async def submit(
    context: Context,
    subject: Subject,
    pipeline_id: int,
    period: Period,
    amount: Decimal,
    note: str | None,
    key: str | None,
) -> SubmissionRecord:
    amount = check.money(amount)
    note = check.text(note, "note")
    if key is not None and not 1 <= len(key) <= MAX_KEY:
        raise BadUserInput(f"idempotencyKey must be 1–{MAX_KEY} characters")
    await _existing(context, subject)
    await _pipeline_and_period(context, pipeline_id, period)
    if not await _may(context, "forecast:edit", subject):
        raise Forbidden("you may not submit a forecast for that subject (forecast:edit)")
    async with context.engine.begin() as conn:
        stored, new = await db.insert_submission(
            conn, subject, pipeline_id, period.key, amount, note, context.viewer.id, key
        )
        if not new:
            same = (
                Subject("user", stored.user_id) if stored.user_id else Subject("team", stored.team_id or 0)
            ) == subject
            if not (
                same
                and stored.pipeline_id == pipeline_id
                and stored.period == period.key
                and stored.amount == amount
                and stored.note == note
            ):
                raise Conflict("that idempotencyKey was already used for a different submission")
            return stored
        await record(
            conn,
            actor_id=context.viewer.id,
            action="forecast.submit",
            target=f"{subject.kind}:{subject.id}",
            details={"pipeline": pipeline_id, "period": period.key, "amount": str(amount), "note": note},
        )
    return stored


async def submissions(
    context: Context,
    subject: Subject,
    pipeline_id: int,
    period: Period | None,
    *,
    first: int,
    after: Key | None,
    with_total: bool,
    hidden_is_missing: bool,
) -> Page[SubmissionRecord]:
    """A subject's submissions, batched over every subject asked in the request.

    Outside forecast:view the subject is NOT_FOUND when asked for directly (`hidden_is_missing`), and
    has no submissions as a nested field; in the team-only view the list is empty."""
    empty: Page[SubmissionRecord] = Page([], [], False, after is not None, 0)
    await _existing(context, subject)
    if not (await can_view(context, [subject]))[0]:
        if hidden_is_missing:
            raise NotFound(
                f"no {subject.kind.capitalize()} with id {_global(subject.kind.capitalize(), subject.id)!r}"
            )
        return empty
    found(await pipeline(context, pipeline_id), "Pipeline", pipeline_id)
    if not (await is_open(context, [subject]))[0]:
        return empty
    periods = [period.key] if period else None

    async def fetch(conn: AsyncConnection, keys: Sequence[int]) -> dict[int, Page[SubmissionRecord]]:
        return await db.submission_pages(
            conn, subject.kind, keys, pipeline_id, periods, first=first, after=after, with_total=with_total
        )

    arguments = ("submissions", subject.kind, pipeline_id, period, first, after, with_total)
    page: Page[SubmissionRecord] = await context.loaders.by_arguments(arguments, fetch, empty).load(
        subject.id
    )
    return page


def subject_of(record: GoalRecord | SubmissionRecord) -> Subject:
    return Subject("user", record.user_id) if record.user_id else Subject("team", record.team_id or 0)


async def _readable(context: Context, subjects: Sequence[Subject]) -> list[bool]:
    """Whether the viewer may read these subjects' goals and submissions (in reach and not team-only)."""
    reach, opened = await can_view(context, subjects), await is_open(context, subjects)
    return [a and b for a, b in zip(reach, opened, strict=True)]


R = TypeVar("R", GoalRecord, SubmissionRecord)


async def _readable_by_ids(
    context: Context,
    ids: Sequence[int],
    fetch: Callable[[AsyncConnection, Sequence[int]], Awaitable[dict[int, R]]],
) -> list[R | None]:
    """Stored goals or submissions by id, null where the viewer may not read their subject's."""
    async with context.engine.connect() as conn:
        stored = await fetch(conn, ids)
    records = list(stored.values())
    allowed = await _readable(context, [subject_of(r) for r in records])
    readable = {r.id for r, ok in zip(records, allowed, strict=True) if ok}
    return [stored[i] if i in readable else None for i in ids]


async def submission_by_ids(context: Context, ids: Sequence[int]) -> list[SubmissionRecord | None]:
    return await _readable_by_ids(context, ids, db.submissions_by_ids)


async def goal_by_ids(context: Context, ids: Sequence[int]) -> list[GoalRecord | None]:
    return await _readable_by_ids(context, ids, db.goals_by_ids)
