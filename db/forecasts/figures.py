"""The deal figures of the forecast table's rows, read from the rollups (db/rollups.py): per user, per
team (its counted users, through the team tree) and for the company, in one statement, each row already
pivoted by forecast category — PostgreSQL groups, Python only does a row's arithmetic (§5)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, null, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from db.deals import rate_of, rates_in_force
from db.forecasts import counted_by_team, counted_users
from db.rollups import FROZEN, NO_OWNER, months
from db.tables import deal_rollups, team_memberships, users
from db.teams import team_closure
from db.users import UserRecord, user_record
from db.vocabulary import FORECAST_CATEGORIES, OPEN

ZERO = Decimal(0)

# deal:view as a predicate on an owner column (None: every owner); db cannot read the grants itself.
OwnerFilter = Callable[[ColumnElement[Any]], ColumnElement[bool] | None]


@dataclass(frozen=True, slots=True)
class Figures:
    """A row's deals, summed: per forecast category (in FORECAST_CATEGORIES order) the deal count, the
    amount in company currency and the weighted amount; the amount of open-stage deals; and totals."""

    counts: tuple[int, ...]
    amounts: tuple[Decimal, ...]
    weighted: tuple[Decimal, ...]
    pipeline_value: Decimal
    deal_count: int
    weighted_pipeline: Decimal

    def __add__(self, other: "Figures") -> "Figures":
        """Figures of disjoint groups (a viewer's top teams) together: a handful of rows, never deals."""
        return Figures(
            tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)),
            tuple(a + b for a, b in zip(self.amounts, other.amounts, strict=True)),
            tuple(a + b for a, b in zip(self.weighted, other.weighted, strict=True)),
            self.pipeline_value + other.pipeline_value,
            self.deal_count + other.deal_count,
            self.weighted_pipeline + other.weighted_pipeline,
        )


NO_DEALS = Figures(
    (0,) * len(FORECAST_CATEGORIES), (ZERO,) * len(FORECAST_CATEGORIES), (ZERO,) * len(FORECAST_CATEGORIES),
    ZERO, 0, ZERO,
)  # fmt: skip


def owner_sums(pipeline_id: int, start: date, end: date, visible: OwnerFilter) -> Select[Any]:
    """Per owner, forecast category and stage state: deal count, Σ amount in company currency and Σ
    weighted amount of the deals closing in [start, end] (whole months) that the viewer may see — read
    from the rollups, open amounts converted at the rate in force (db.deals.rate_of)."""
    r = deal_rollups
    owner = func.nullif(r.c.owner_id, NO_OWNER)
    frozen = case((r.c.currency == FROZEN, literal(Decimal(1))))  # already in the company currency
    rate = rate_of(frozen, r.c.currency, rates_in_force.c.rate)
    first, last = months(start, end)
    allowed = visible(owner)
    return (
        select(
            owner.label("owner_id"),
            r.c.category,
            r.c.state,
            func.sum(r.c.deals).label("n"),
            func.sum(r.c.amount * rate).label("c"),
            func.sum(r.c.weighted * rate).label("w"),
        )
        .select_from(r.outerjoin(rates_in_force, rates_in_force.c.currency == r.c.currency))
        .where(r.c.pipeline_id == pipeline_id, r.c.month >= first, r.c.month <= last)
        .where(*([allowed] if allowed is not None else []))
        .group_by(owner, r.c.category, r.c.state)
    )


def _pivoted(sums: Any) -> list[ColumnElement[Any]]:
    """A row's figures from its (category, state) sums, as the columns Figures reads."""
    columns: list[ColumnElement[Any]] = []
    for n, category in enumerate(FORECAST_CATEGORIES):
        mine = sums.c.category == category
        columns += [
            func.coalesce(func.sum(sums.c.n).filter(mine), 0).label(f"n{n}"),
            func.coalesce(func.sum(sums.c.c).filter(mine), ZERO).label(f"c{n}"),
            func.coalesce(func.sum(sums.c.w).filter(mine), ZERO).label(f"w{n}"),
        ]
    return [
        *columns,
        func.coalesce(func.sum(sums.c.c).filter(sums.c.state == OPEN), ZERO).label("open"),
        func.coalesce(func.sum(sums.c.n), 0).label("n"),
        func.coalesce(func.sum(sums.c.w), ZERO).label("w"),
    ]


def _figures(row: Any) -> Figures:
    values = row._mapping
    size = range(len(FORECAST_CATEGORIES))
    return Figures(
        tuple(int(values[f"n{n}"]) for n in size),
        tuple(values[f"c{n}"] for n in size),
        tuple(values[f"w{n}"] for n in size),
        values["open"],
        int(values["n"]),
        values["w"],
    )


async def deal_figures(
    conn: AsyncConnection,
    pipeline_id: int,
    start: date,
    end: date,
    *,
    user_ids: Sequence[int],
    team_ids: Sequence[int],
    company: bool,
    visible: OwnerFilter,
) -> dict[tuple[str, int | None], Figures]:
    """The figures of users ("user", id: sales-seat users' own deals), teams ("team", id: their counted
    users') and the company ("company", None: every sales-seat user's), in one statement."""
    per_owner = owner_sums(pipeline_id, start, end, visible).cte("per_owner")
    seated = per_owner.join(users, and_(users.c.id == per_owner.c.owner_id, users.c.sales_seat))
    parts: list[Select[Any]] = []
    if user_ids:
        parts.append(
            select(literal("user").label("kind"), per_owner.c.owner_id.label("key"), *_pivoted(per_owner))
            .select_from(seated)
            .where(per_owner.c.owner_id.in_(list(user_ids)))
            .group_by(per_owner.c.owner_id)
        )
    if team_ids:
        closure = team_closure()
        parts.append(
            select(literal("team").label("kind"), closure.c.ancestor.label("key"), *_pivoted(per_owner))
            .select_from(counted_by_team(per_owner, per_owner.c.owner_id))
            .where(closure.c.ancestor.in_(list(team_ids)))
            .group_by(closure.c.ancestor)
        )
    if company:
        parts.append(
            select(literal("company").label("kind"), null().label("key"), *_pivoted(per_owner)).select_from(seated)
        )
    if not parts:
        return {}
    return {(row.kind, row.key): _figures(row) for row in await conn.execute(union_all(*parts))}


@dataclass(frozen=True, slots=True)
class CountedUser:
    """A user with a row in a table, and their primary team (None: no team)."""

    user: UserRecord
    primary_team: int | None


async def table_users(conn: AsyncConnection, team_ids: Sequence[int] | None) -> list[CountedUser]:
    """The users counted in the teams' tables (None: every sales-seat user), by name."""
    primary = (
        select(team_memberships.c.team_id)
        .where(team_memberships.c.user_id == users.c.id, team_memberships.c.is_primary)
        .scalar_subquery()
    )
    query = select(*users.c, primary.label("primary_team"))
    if team_ids is None:
        query = query.where(users.c.sales_seat)
    else:
        query = query.where(or_(*(users.c.id.in_(counted_users(team_id)) for team_id in team_ids)))
    rows = await conn.execute(query.order_by(users.c.name, users.c.id))
    return [CountedUser(user_record(row), row.primary_team) for row in rows]
