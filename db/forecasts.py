"""Goals, forecast submissions and the grouped aggregates behind the forecast table (DOMAIN.md §4–§5).

Counted users of a team are the sales-seat users whose primary team is the team or a descendant; the
company counts every sales-seat user. Every number comes from a grouped SQL aggregate: per owner, per
team (through the team closure) or for the company, by forecast category and stage state.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.deals import category_of, rate_of, rates_in_force
from db.pagination import Key, Ordering, Page, fetch_pages
from db.rollups import NO_CATEGORY, NO_OWNER, months
from db.tables import deal_rollups, forecast_submissions, goals, stages, team_memberships, teams, users
from db.teams import team_closure

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Subject:
    """A user or a team, as the row of a forecast is about."""

    kind: str  # "user" or "team"
    id: int

    @property
    def column(self) -> str:
        return f"{self.kind}_id"


def counted_users(team: ColumnElement[Any] | int) -> Select[Any]:
    """Sales-seat users whose primary team is `team` or one of its descendants."""
    closure = team_closure()
    return (
        select(users.c.id)
        .join(team_memberships, and_(team_memberships.c.user_id == users.c.id, team_memberships.c.is_primary))
        .join(closure, closure.c.team == team_memberships.c.team_id)
        .where(users.c.sales_seat, closure.c.ancestor == (literal(team) if isinstance(team, int) else team))
        .correlate_except(users, team_memberships, closure)
    )


# Goals


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


_GOAL = (
    goals.c.id,
    goals.c.user_id,
    goals.c.team_id,
    goals.c.pipeline_id,
    goals.c.period,
    goals.c.amount,
    goals.c.set_by,
    goals.c.set_at,
)


async def insert_goal(
    conn: AsyncConnection, subject: Subject, pipeline_id: int, period: str, amount: Decimal, set_by: int
) -> GoalRecord:
    row = (
        await conn.execute(
            goals.insert()
            .values(
                {
                    subject.column: subject.id,
                    "pipeline_id": pipeline_id,
                    "period": period,
                    "amount": amount,
                    "set_by": set_by,
                    "set_at": func.clock_timestamp(),
                }
            )
            .returning(*_GOAL)
        )
    ).one()
    return GoalRecord(*row)


async def current_goals(
    conn: AsyncConnection, kind: str, ids: Sequence[int], pipeline_id: int
) -> dict[int, list[GoalRecord]]:
    """Each subject's latest goal per period in the pipeline (every kind of period), oldest period first."""
    column = goals.c.user_id if kind == "user" else goals.c.team_id
    query = (
        select(*_GOAL)
        .where(column.in_(list(ids)), goals.c.pipeline_id == pipeline_id)
        .order_by(column, goals.c.period, goals.c.set_at.desc(), goals.c.id.desc())
    )
    found: dict[int, list[GoalRecord]] = {i: [] for i in ids}
    seen: set[tuple[int, str]] = set()
    for row in await conn.execute(query):
        record = GoalRecord(*row)
        owner = record.user_id if kind == "user" else record.team_id
        assert owner is not None
        if (owner, record.period) not in seen:  # the newest version of each period's goal
            seen.add((owner, record.period))
            found[owner].append(record)
    return found


async def goals_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, GoalRecord]:
    return {
        row.id: GoalRecord(*row)
        for row in await conn.execute(select(*_GOAL).where(goals.c.id.in_(list(ids))))
    }


# Submissions


@dataclass(frozen=True, slots=True)
class SubmissionRecord:
    id: int
    user_id: int | None
    team_id: int | None
    pipeline_id: int
    period: str
    amount: Decimal
    note: str | None
    submitted_by: int
    submitted_at: datetime
    idempotency_key: str | None


_SUBMISSION = (
    forecast_submissions.c.id,
    forecast_submissions.c.user_id,
    forecast_submissions.c.team_id,
    forecast_submissions.c.pipeline_id,
    forecast_submissions.c.period,
    forecast_submissions.c.amount,
    forecast_submissions.c.note,
    forecast_submissions.c.submitted_by,
    forecast_submissions.c.submitted_at,
    forecast_submissions.c.idempotency_key,
)
SUBMISSION_ORDER = Ordering("submissions.NEWEST_FIRST", (forecast_submissions.c.id,), descending=True)


async def insert_submission(
    conn: AsyncConnection,
    subject: Subject,
    pipeline_id: int,
    period: str,
    amount: Decimal,
    note: str | None,
    submitted_by: int,
    idempotency_key: str | None,
) -> tuple[SubmissionRecord, bool]:
    """The stored submission and whether it is new (False: a retry with a key already used)."""
    values = {subject.column: subject.id, "pipeline_id": pipeline_id, "period": period, "amount": amount,
              "note": note, "submitted_by": submitted_by, "idempotency_key": idempotency_key,
              "submitted_at": func.clock_timestamp()}  # fmt: skip
    stmt = (
        pg_insert(forecast_submissions)
        .values(values)
        .on_conflict_do_nothing(
            index_elements=[forecast_submissions.c.submitted_by, forecast_submissions.c.idempotency_key]
        )
    )
    row = (await conn.execute(stmt.returning(*_SUBMISSION))).first()
    if row is not None:
        return SubmissionRecord(**row._asdict()), True
    existing = await conn.execute(
        select(*_SUBMISSION).where(
            forecast_submissions.c.submitted_by == submitted_by,
            forecast_submissions.c.idempotency_key == idempotency_key,
        )
    )
    return SubmissionRecord(**existing.one()._asdict()), False


async def submission_pages(
    conn: AsyncConnection,
    kind: str,
    subject_ids: Sequence[int],
    pipeline_id: int,
    periods: Sequence[str] | None,
    *,
    first: int,
    after: Key | None,
    with_total: bool,
) -> dict[int, Page[SubmissionRecord]]:
    """Each subject's submissions in the pipeline (optionally of some periods), newest first."""
    column = forecast_submissions.c[f"{kind}_id"]

    def build(parent: ColumnElement[Any]) -> tuple[Select[Any], Ordering]:
        query = select(*_SUBMISSION).where(
            column == parent, forecast_submissions.c.pipeline_id == pipeline_id
        )
        if periods is not None:
            query = query.where(forecast_submissions.c.period.in_(list(periods)))
        return query, SUBMISSION_ORDER

    return await fetch_pages(
        conn,
        subject_ids,
        build,
        first=first,
        after=after,
        with_total=with_total,
        convert=lambda row: SubmissionRecord(*(row._mapping[c.name] for c in _SUBMISSION)),
    )


async def submissions_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, SubmissionRecord]:
    rows = await conn.execute(select(*_SUBMISSION).where(forecast_submissions.c.id.in_(list(ids))))
    return {row.id: SubmissionRecord(**row._asdict()) for row in rows}


# The forecast table


@dataclass
class DealSums:
    """Per (category, stage state): deal count, Σ amount in company currency, Σ weighted amount."""

    by_category: dict[tuple[str, str], tuple[int, Decimal, Decimal]]


@dataclass(frozen=True)
class TableFigures:
    """Everything the table's rows need, from a handful of statements whatever the number of rows."""

    deals: dict[tuple[str, int | None], DealSums]
    goals: dict[tuple[str, int | None], Decimal]
    submissions: dict[tuple[str, int | None], SubmissionRecord]
    submission_sums: dict[tuple[str, int | None], Decimal]


# deal:view as a predicate on an owner column (None: every owner); db cannot read the grants itself.
OwnerFilter = Callable[[ColumnElement[Any]], ColumnElement[bool] | None]


async def table_figures(
    conn: AsyncConnection,
    *,
    pipeline_id: int,
    period: str,
    start: date,
    end: date,
    user_ids: Sequence[int],
    team_ids: Sequence[int],
    company: bool,
    visible: OwnerFilter,
) -> TableFigures:
    submissions, submission_sums = await _latest_submissions(conn, pipeline_id, period, user_ids, team_ids)
    return TableFigures(
        deals=await _deal_sums(conn, pipeline_id, start, end, user_ids, team_ids, company, visible),
        goals=await _goal_sums(conn, pipeline_id, period, user_ids, team_ids),
        submissions=submissions,
        submission_sums=submission_sums,
    )


def owner_sums(pipeline_id: int, start: date, end: date, visible: OwnerFilter) -> Select[Any]:
    """Per owner, forecast category and stage state: deal count, Σ amount in company currency and Σ
    weighted amount of the deals closing in [start, end] that the viewer may see — read from the
    rollups, with the deal rules of db.deals applied to them (rate, category, probability)."""
    r = deal_rollups
    owner = func.nullif(r.c.owner_id, NO_OWNER)
    frozen = case((r.c.frozen, literal(Decimal(1))))  # frozen amounts are in the company currency already
    rate = rate_of(frozen, r.c.currency, rates_in_force.c.rate)
    category = category_of(
        stages.c.state, stages.c.forecast_category, func.nullif(r.c.manual_category, NO_CATEGORY)
    )
    # Σ amount × probability = Σ (own probability part) + stage probability × Σ (the rest): the rollup
    # keeps the two parts apart so that a change of the stage's probability is read through.
    weighted = r.c.weighted_own + r.c.amount_by_stage * stages.c.probability
    first, last = months(start, end)
    conditions = [r.c.pipeline_id == pipeline_id, r.c.month >= first, r.c.month <= last]
    allowed = visible(owner)
    return (
        select(
            owner.label("owner_id"),
            category.label("cat"),
            stages.c.state,
            func.sum(r.c.deals).label("n"),
            func.sum(r.c.amount * rate).label("c"),
            func.sum(weighted * rate).label("w"),
        )
        .select_from(
            r.join(stages, stages.c.id == r.c.stage_id).outerjoin(
                rates_in_force, rates_in_force.c.currency == r.c.currency
            )
        )
        .where(*conditions, *([allowed] if allowed is not None else []))
        .group_by(owner, category, stages.c.state)
    )


async def _deal_sums(
    conn: AsyncConnection,
    pipeline_id: int,
    start: date,
    end: date,
    user_ids: Sequence[int],
    team_ids: Sequence[int],
    company: bool,
    visible: OwnerFilter,
) -> dict[tuple[str, int | None], DealSums]:
    per_owner = owner_sums(pipeline_id, start, end, visible).cte("per_owner")
    measures = (func.sum(per_owner.c.n), func.sum(per_owner.c.c), func.sum(per_owner.c.w))
    seated = per_owner.join(users, and_(users.c.id == per_owner.c.owner_id, users.c.sales_seat))
    grouping = (per_owner.c.cat, per_owner.c.state)
    parts: list[Select[Any]] = [
        select(
            literal("user").label("kind"),
            per_owner.c.owner_id.label("key"),
            per_owner.c.cat,
            per_owner.c.state,
            per_owner.c.n,
            per_owner.c.c,
            per_owner.c.w,
        )
        .select_from(seated)
        .where(per_owner.c.owner_id.in_(list(user_ids)))
    ]
    if team_ids:
        closure = team_closure()
        parts.append(
            select(literal("team"), closure.c.ancestor, *grouping, *measures)
            .select_from(_counted_by_team(per_owner, per_owner.c.owner_id))
            .where(closure.c.ancestor.in_(list(team_ids)))
            .group_by(closure.c.ancestor, *grouping)
        )
    if company:
        parts.append(
            select(literal("company"), null(), *grouping, *measures).select_from(seated).group_by(*grouping)
        )
    found: dict[tuple[str, int | None], DealSums] = {}
    for row in await conn.execute(union_all(*parts)):
        sums = found.setdefault((row.kind, row.key), DealSums({}))
        sums.by_category[(row.cat, row.state)] = (int(row.n), row.c or ZERO, row.w or ZERO)
    return found


def _latest(table: Any, subject: str, stamp: str, pipeline_id: int, period: str) -> Any:
    """Each user's or team's (`subject` column) latest row of `table` for the pipeline and period."""
    key = table.c[subject]
    order = (table.c[stamp].desc(), table.c.id.desc())
    ranked = (
        select(*table.c, func.row_number().over(partition_by=key, order_by=order).label("rank"))
        .where(key.is_not(None), table.c.pipeline_id == pipeline_id, table.c.period == period)
        .subquery()
    )
    return select(ranked).where(ranked.c.rank == 1).subquery(f"latest_{table.name}_{subject}")


def _counted_by_team(rows: Any, user_id: ColumnElement[Any]) -> Any:
    """`rows` joined to the teams that count their user: the sales-seat user's primary team and every
    team above it (as team_closure.ancestor)."""
    closure = team_closure()
    return (
        rows.join(users, and_(users.c.id == user_id, users.c.sales_seat))
        .join(team_memberships, and_(team_memberships.c.user_id == users.c.id, team_memberships.c.is_primary))
        .join(closure, closure.c.team == team_memberships.c.team_id)
    )


def _member_sums(latest_user_rows: Any, team_ids: Sequence[int]) -> Select[Any]:
    """Σ of the latest values of each team's counted users, per team."""
    closure = team_closure()
    return (
        select(
            literal("team_sum").label("kind"),
            closure.c.ancestor.label("key"),
            func.sum(latest_user_rows.c.amount),
        )
        .select_from(_counted_by_team(latest_user_rows, latest_user_rows.c.user_id))
        .where(closure.c.ancestor.in_(list(team_ids)))
        .group_by(closure.c.ancestor)
    )


async def _goal_sums(
    conn: AsyncConnection,
    pipeline_id: int,
    period: str,
    user_ids: Sequence[int],
    team_ids: Sequence[int],
) -> dict[tuple[str, int | None], Decimal]:
    """Latest goals of the users and teams, and each team's Σ of its counted users' goals."""
    by_user = _latest(goals, "user_id", "set_at", pipeline_id, period)
    by_team = _latest(goals, "team_id", "set_at", pipeline_id, period)
    parts: list[Select[Any]] = [
        select(literal("user"), by_user.c.user_id, by_user.c.amount).where(
            by_user.c.user_id.in_(list(user_ids))
        ),
        select(literal("team"), by_team.c.team_id, by_team.c.amount).where(
            by_team.c.team_id.in_(list(team_ids))
        ),
    ]
    if team_ids:
        parts.append(_member_sums(by_user, team_ids))
    return {(kind, key): value for kind, key, value in (await conn.execute(union_all(*parts))).all()}


async def _latest_submissions(
    conn: AsyncConnection, pipeline_id: int, period: str, user_ids: Sequence[int], team_ids: Sequence[int]
) -> tuple[dict[tuple[str, int | None], SubmissionRecord], dict[tuple[str, int | None], Decimal]]:
    """Latest submissions of the users and teams, and each team's Σ of its counted users' latest ones."""
    by_user = _latest(forecast_submissions, "user_id", "submitted_at", pipeline_id, period)
    by_team = _latest(forecast_submissions, "team_id", "submitted_at", pipeline_id, period)
    columns = [c.name for c in _SUBMISSION]
    found: dict[tuple[str, int | None], SubmissionRecord] = {}
    for table, kind, ids in ((by_user, "user", user_ids), (by_team, "team", team_ids)):
        if ids:
            rows = await conn.execute(
                select(*(table.c[c] for c in columns)).where(table.c[f"{kind}_id"].in_(list(ids)))
            )
            for row in rows:
                record = SubmissionRecord(*row)
                found[(kind, record.user_id if kind == "user" else record.team_id)] = record
    sums: dict[tuple[str, int | None], Decimal] = {}
    if team_ids:
        sums = {
            (kind, key): value
            for kind, key, value in (await conn.execute(_member_sums(by_user, team_ids))).all()
        }
    return found, sums


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
        .select_from(_counted_by_team(ranked, ranked.c.user_id))
        .where(ranked.c.rank == 1, closure.c.ancestor.in_(list(team_ids)))
        .group_by(closure.c.ancestor, ranked.c.period)
    )
    found: dict[int, dict[str, tuple[Decimal, datetime]]] = {team_id: {} for team_id in team_ids}
    for team_id, period, total, latest in await conn.execute(query):
        found[team_id][period] = (total, latest)
    return found


@dataclass(frozen=True, slots=True)
class ViewerTeams:
    """The viewer's teams: where they are a member, everything below those, and what they manage."""

    member: frozenset[int]
    reach: frozenset[int]
    managed: frozenset[int]


async def viewer_teams(conn: AsyncConnection, user_id: int) -> ViewerTeams:
    closure = team_closure()
    query = (
        select(team_memberships.c.team_id, team_memberships.c.role, closure.c.team)
        .join(closure, closure.c.ancestor == team_memberships.c.team_id)
        .where(team_memberships.c.user_id == user_id)
    )
    member: set[int] = set()
    reach: set[int] = set()
    managed: set[int] = set()
    for team_id, role, below in await conn.execute(query):
        member.add(team_id)
        reach.add(below)
        if role == "MANAGER":
            managed.add(below)
    return ViewerTeams(frozenset(member), frozenset(reach), frozenset(managed))


async def table_users(
    conn: AsyncConnection, team_ids: Sequence[int] | None
) -> list[tuple[int, str, str, bool, bool, int | None]]:
    """The users counted in the teams' tables (None: every sales-seat user), by name, with primary team."""
    primary = (
        select(team_memberships.c.team_id)
        .where(team_memberships.c.user_id == users.c.id, team_memberships.c.is_primary)
        .scalar_subquery()
    )
    query = select(
        users.c.id, users.c.name, users.c.email, users.c.active, users.c.sales_seat, primary.label("primary")
    )
    if team_ids is None:
        query = query.where(users.c.sales_seat)
    else:
        query = query.where(or_(*(users.c.id.in_(counted_users(team_id)) for team_id in team_ids)))
    rows = await conn.execute(query.order_by(users.c.name, users.c.id))
    return [(r.id, r.name, r.email, r.active, r.sales_seat, r.primary) for r in rows]


async def users_memberships(conn: AsyncConnection, user_ids: Sequence[int]) -> dict[int, set[int]]:
    """Every team each user belongs to (primary or extra)."""
    found: dict[int, set[int]] = {user_id: set() for user_id in user_ids}
    rows = await conn.execute(
        select(team_memberships.c.user_id, team_memberships.c.team_id).where(
            team_memberships.c.user_id.in_(list(user_ids))
        )
    )
    for user_id, team_id in rows:
        found[user_id].add(team_id)
    return found


async def root_team_ids(conn: AsyncConnection) -> list[int]:
    rows = await conn.execute(
        select(teams.c.id).where(teams.c.parent_id.is_(None)).order_by(teams.c.name, teams.c.id)
    )
    return list(rows.scalars())


async def descendants(conn: AsyncConnection, team_ids: Sequence[int]) -> dict[int, set[int]]:
    """Each team's descendants (itself excluded)."""
    closure = team_closure()
    found: dict[int, set[int]] = {team_id: set() for team_id in team_ids}
    rows = await conn.execute(
        select(closure.c.ancestor, closure.c.team).where(
            closure.c.ancestor.in_(list(team_ids)), closure.c.ancestor != closure.c.team
        )
    )
    for ancestor, team in rows:
        found[ancestor].add(team)
    return found
