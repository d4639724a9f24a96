"""Goals: versioned revenue targets of a user or team for a pipeline and period (docs/domain.md)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.forecasts import Subject, counted_by_team
from db.records import columns_of, record_of
from db.sql import among
from db.tables import goals
from db.teams import team_closure
from db.vocabulary import SubjectKind


@dataclass(frozen=True, slots=True)
class GoalRecord:
    id: int
    user_id: int | None
    team_id: int | None
    pipeline_id: int
    period: str
    amount: Decimal
    set_by: int | None
    set_at: datetime


GOAL_COLUMNS = columns_of(GoalRecord, goals)


async def insert_goal(
    conn: AsyncConnection, subject: Subject, pipeline_id: int, period: str, amount: Decimal, set_by: int
) -> GoalRecord:
    values = {subject.column: subject.id, "pipeline_id": pipeline_id, "period": period, "amount": amount,
              "set_by": set_by, "set_at": func.clock_timestamp()}  # fmt: skip
    row = (await conn.execute(goals.insert().values(values).returning(*GOAL_COLUMNS.values()))).one()
    return record_of(GoalRecord, row)


async def current_goals(
    conn: AsyncConnection, kind: SubjectKind, ids: Sequence[int], pipeline_id: int
) -> dict[int, list[GoalRecord]]:
    """Each subject's latest goal per period in the pipeline (every kind of period), oldest period first."""
    column = goals.c[f"{kind}_id"]
    query = (
        select(*GOAL_COLUMNS.values())
        .where(among(column, ids), goals.c.pipeline_id == pipeline_id)
        .order_by(column, goals.c.period, goals.c.set_at.desc(), goals.c.id.desc())
    )
    found: dict[int, list[GoalRecord]] = {i: [] for i in ids}
    seen: set[tuple[int, str]] = set()
    for row in await conn.execute(query):
        record = record_of(GoalRecord, row)
        owner = Subject.of(record.user_id, record.team_id).id
        if (owner, record.period) not in seen:  # the newest version of each period's goal
            seen.add((owner, record.period))
            found[owner].append(record)
    return found


async def goals_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, GoalRecord]:
    rows = await conn.execute(select(*GOAL_COLUMNS.values()).where(among(goals.c.id, ids)))
    return {row.id: record_of(GoalRecord, row) for row in rows}


async def team_member_goal_sums(
    conn: AsyncConnection, team_ids: Sequence[int], pipeline_id: int
) -> dict[int, dict[str, tuple[Decimal, datetime]]]:
    """Per team and period: Σ of the latest goals of the team's counted users, and when the last was set."""
    ranked = (
        select(
            goals.c.user_id,
            goals.c.period,
            goals.c.amount,
            goals.c.set_at,
            func.row_number()
            .over(
                partition_by=(goals.c.user_id, goals.c.period),
                order_by=(goals.c.set_at.desc(), goals.c.id.desc()),
            )
            .label("rank"),
        )
        .where(goals.c.user_id.is_not(None), goals.c.pipeline_id == pipeline_id)
        .subquery()
    )
    closure = team_closure()
    query = (
        select(closure.c.ancestor, ranked.c.period, func.sum(ranked.c.amount), func.max(ranked.c.set_at))
        .select_from(counted_by_team(ranked, ranked.c.user_id))
        .where(ranked.c.rank == 1, among(closure.c.ancestor, team_ids))
        .group_by(closure.c.ancestor, ranked.c.period)
    )
    found: dict[int, dict[str, tuple[Decimal, datetime]]] = {team_id: {} for team_id in team_ids}
    for team_id, period, total, latest in await conn.execute(query):
        found[team_id][period] = (total, latest)
    return found
