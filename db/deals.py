"""Deals and their history.

The numbers a deal shows are derived in SQL, so lists, nested fields and aggregates share one definition
(docs/domain.md): the rate (frozen when the deal closed, else 1 in the company currency, else the rate in
force today), the amount in company currency, the probability (the deal's override, else its stage's),
the weighted amount and the forecast category (WON → CLOSED_WON, LOST → NOT_FORECASTED, else the manual
choice, else the stage's mapping).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Numeric,
    Row,
    Select,
    Text,
    and_,
    any_,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection

from db.pagination import Ordering, Page, PageRequest, fetch_page, fetch_pages
from db.pipelines import STAGE_COLUMNS, StageRecord
from db.records import columns_of, record_of
from db.sql import among, array_of
from db.tables import company_settings, deal_changes, deals, exchange_rates, stages, users
from db.teams import members_of
from db.users import USER_COLUMNS, UserRecord, like_pattern
from db.vocabulary import BACKWARD, DECREASED, FORCED_CATEGORY, FORWARD, INCREASED, NO_CHANGE, OPEN


def rates_on(day: ColumnElement[Any], name: str = "rates_in_force") -> Any:
    """Each currency's rate to the company currency in force on `day`."""
    return (
        select(exchange_rates.c.currency, exchange_rates.c.rate)
        .where(exchange_rates.c.valid_from <= day)
        .ext(distinct_on(exchange_rates.c.currency))
        .order_by(exchange_rates.c.currency, exchange_rates.c.valid_from.desc())
        .subquery(name)
    )


rates_in_force = rates_on(func.current_date())
company_currency = select(company_settings.c.currency).scalar_subquery()


# Each rule as a function of the columns it reads, so that deal rows, pages of the compiled read path and
# the rollups (which store the same columns summed) apply one definition.


def rate_of(
    frozen_rate: ColumnElement[Any],
    currency: ColumnElement[Any],
    in_force: ColumnElement[Any],
    company: ColumnElement[Any] = company_currency,
) -> ColumnElement[Decimal]:
    """The rate to the company currency (`company`, in the form `currency` has): frozen once closed, 1 in
    the company currency, else today's."""
    return case(
        (frozen_rate.is_not(None), frozen_rate),
        (currency == company, literal(Decimal(1))),
        else_=in_force,
    )


def probability_of(override: ColumnElement[Any], stage_probability: ColumnElement[Any]) -> ColumnElement[Any]:
    """The deal's own probability if set, else its stage's."""
    return func.coalesce(override, stage_probability)


def category_of(
    state: ColumnElement[Any], mapped: ColumnElement[Any], manual: ColumnElement[Any]
) -> ColumnElement[str]:
    """WON → CLOSED_WON, LOST → NOT_FORECASTED, else the manual choice, else the stage's mapping."""
    return case(
        *((state == closed, literal(forced)) for closed, forced in FORCED_CATEGORY.items()),
        else_=func.coalesce(manual, mapped),
    )


def category_is_manual_of(state: ColumnElement[Any], manual: ColumnElement[Any]) -> ColumnElement[bool]:
    return and_(state == OPEN, manual.is_not(None))


rate = rate_of(deals.c.frozen_rate, deals.c.currency, rates_in_force.c.rate)
amount_c = deals.c.amount * rate
probability = probability_of(deals.c.probability, stages.c.probability)
weighted_amount = amount_c * probability
category = category_of(stages.c.state, stages.c.forecast_category, deals.c.forecast_category)
category_is_manual = category_is_manual_of(stages.c.state, deals.c.forecast_category)

# Deals with their stage and today's rate. The stage is an outer join although every deal has one (a
# non-null foreign key): so PostgreSQL drops it from counts and pages that do not read the stage.
DEALS = deals.outerjoin(stages, stages.c.id == deals.c.stage_id).outerjoin(
    rates_in_force, rates_in_force.c.currency == deals.c.currency
)


@dataclass(frozen=True, slots=True)
class DealRecord:
    """A deal with its derived numbers, its stage and its owner (so that nothing more is loaded to show
    them)."""

    id: int
    name: str
    owner_id: int | None
    pipeline_id: int
    stage_id: int
    amount: Decimal
    currency: str
    amount_c: Decimal
    probability: Decimal
    weighted_amount: Decimal
    forecast_category: str
    forecast_category_is_manual: bool
    close_date: date
    created_at: datetime
    updated_at: datetime
    next_step: str | None
    version: int
    stage: StageRecord
    owner: UserRecord | None


# Every value of a DealRecord, by field name: the one place each is defined for reads.
DEAL_COLUMNS: dict[str, ColumnElement[Any]] = {
    "id": deals.c.id,
    "name": deals.c.name,
    "owner_id": deals.c.owner_id,
    "pipeline_id": deals.c.pipeline_id,
    "stage_id": deals.c.stage_id,
    "amount": deals.c.amount,
    "currency": deals.c.currency,
    "amount_c": amount_c,
    "probability": probability,
    "weighted_amount": weighted_amount,
    "forecast_category": category,
    "forecast_category_is_manual": category_is_manual,
    "close_date": deals.c.close_date,
    "created_at": deals.c.created_at,
    "updated_at": deals.c.updated_at,
    "next_step": deals.c.next_step,
    "version": deals.c.version,
}
owners = users.alias("deal_owner")
_STAGE = {f"stage__{name}": column for name, column in STAGE_COLUMNS.items()}
_OWNER = {f"owner__{name}": owners.c[column.name] for name, column in USER_COLUMNS.items()}
_SELECTED = [
    *(column.label(name) for name, column in DEAL_COLUMNS.items()),
    *(column.label(name) for name, column in _STAGE.items()),
    *(column.label(name) for name, column in _OWNER.items()),
]


def _record(row: Row[Any]) -> DealRecord:
    values = row._mapping
    owner = values["owner__id"]
    return DealRecord(
        **{name: values[name] for name in DEAL_COLUMNS},
        stage=StageRecord(**{name: values[f"stage__{name}"] for name in STAGE_COLUMNS}),
        owner=UserRecord(**{name: values[f"owner__{name}"] for name in USER_COLUMNS}) if owner else None,
    )


def deal_select() -> Select[Any]:
    return select(*_SELECTED).select_from(DEALS.outerjoin(owners, owners.c.id == deals.c.owner_id))


ORDERINGS = {
    "CLOSE_DATE_ASC": Ordering("deals.CLOSE_DATE_ASC", (deals.c.close_date, deals.c.id)),
    "CLOSE_DATE_DESC": Ordering("deals.CLOSE_DATE_DESC", (deals.c.close_date, deals.c.id), descending=True),
    "AMOUNT_ASC": Ordering("deals.AMOUNT_ASC", (amount_c, deals.c.id)),
    "AMOUNT_DESC": Ordering("deals.AMOUNT_DESC", (amount_c, deals.c.id), descending=True),
    "NAME_ASC": Ordering("deals.NAME_ASC", (deals.c.name, deals.c.id)),
    "UPDATED_DESC": Ordering("deals.UPDATED_DESC", (deals.c.updated_at, deals.c.id), descending=True),
}


# A SQL parameter standing for a filter's value (the compiled read path's statements).
Param = ColumnElement[Any]


@dataclass(frozen=True)
class DealFilter:
    """DealFilter of the API with IDs decoded and the period turned into a close-date range."""

    pipeline_id: int | Param | None = None
    close_from: date | Param | None = None
    close_to: date | Param | None = None
    stage_ids: tuple[int, ...] | Param | None = None
    categories: tuple[str, ...] | Param | None = None
    owner_ids: tuple[int, ...] | Param | None = None
    team_id: int | Param | None = None
    state: str | Param | None = None
    search: str | Param | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The filter as SQL. Each field may also hold a SQL parameter standing for its value (the
        compiled read path builds its statement once that way): lists then are arrays, and `search`
        the LIKE pattern (`like_pattern`)."""
        found: list[ColumnElement[bool]] = []
        if self.pipeline_id is not None:
            found.append(deals.c.pipeline_id == self.pipeline_id)
        if self.close_from is not None:
            found.append(deals.c.close_date >= self.close_from)
        if self.close_to is not None:
            found.append(deals.c.close_date <= self.close_to)
        if self.stage_ids is not None:
            found.append(deals.c.stage_id == any_(array_of(self.stage_ids, BigInteger())))
        if self.categories is not None:
            found.append(category == any_(array_of(self.categories, Text())))
        if self.owner_ids is not None:
            found.append(deals.c.owner_id == any_(array_of(self.owner_ids, BigInteger())))
        if self.team_id is not None:
            found.append(deals.c.owner_id.in_(members_of(self.team_id, with_descendants=True)))
        if self.state is not None:
            found.append(stages.c.state == self.state)
        if self.search is not None:
            pattern = self.search if isinstance(self.search, ColumnElement) else like_pattern(self.search)
            found.append(deals.c.name.ilike(pattern))
        return found


def deals_query(
    where: DealFilter,
    visible: ColumnElement[bool] | None,
    parent_kind: str | None = None,
    parent: ColumnElement[Any] | None = None,
) -> Select[Any]:
    """The deals matching `where` that `visible` lets through, optionally of one owner (`parent_kind`
    "owner") or one team with its descendants ("team"), with every column of a DealRecord."""
    conditions = where.conditions() + ([visible] if visible is not None else [])
    if parent_kind == "owner":
        conditions.append(deals.c.owner_id == parent)
    elif parent_kind == "team":
        assert parent is not None
        conditions.append(deals.c.owner_id.in_(members_of(parent, with_descendants=True)))
    return deal_select().where(*conditions)


async def deals_by_ids(
    conn: AsyncConnection, ids: Sequence[int], visible: ColumnElement[bool] | None = None
) -> dict[int, DealRecord]:
    query = deal_select().where(deals.c.id.in_(list(ids)))
    if visible is not None:
        query = query.where(visible)
    return {row.id: _record(row) for row in await conn.execute(query)}


async def deals_matching(
    conn: AsyncConnection, ids: Sequence[int], where: DealFilter, visible: ColumnElement[bool] | None
) -> dict[int, DealRecord]:
    """Of these deals, the ones matching `where` that `visible` lets through."""
    query = deals_query(where, visible).where(deals.c.id == any_(array_of(list(ids), BigInteger())))
    return {row.id: _record(row) for row in await conn.execute(query)}


async def list_deals(
    conn: AsyncConnection,
    where: DealFilter,
    *,
    visible: ColumnElement[bool] | None,
    order: str,
    page: PageRequest,
) -> Page[DealRecord]:
    return await fetch_page(conn, deals_query(where, visible), ORDERINGS[order], page, _record)


async def deals_by_parent(
    conn: AsyncConnection,
    parents: Sequence[int],
    parent_kind: str,
    where: DealFilter,
    *,
    visible: ColumnElement[bool] | None,
    order: str,
    page: PageRequest,
) -> dict[int, Page[DealRecord]]:
    """The deals of many owners (`parent_kind` "owner") or teams with their descendants ("team")."""

    def build(parent: ColumnElement[Any]) -> tuple[Select[Any], Ordering]:
        return deals_query(where, visible, parent_kind, parent), ORDERINGS[order]

    return await fetch_pages(conn, parents, build, page, _record)


# Writes


@dataclass(frozen=True, slots=True)
class LockedDeal:
    """A deal's stored columns, locked for update."""

    id: int
    name: str
    owner_id: int | None
    pipeline_id: int
    stage_id: int
    amount: Decimal
    currency: str
    frozen_rate: Decimal | None
    close_date: date
    forecast_category: str | None
    probability: Decimal | None
    next_step: str | None
    version: int


_STORED = columns_of(LockedDeal, deals)


async def lock_deal(
    conn: AsyncConnection, deal_id: int, visible: ColumnElement[bool] | None = None
) -> LockedDeal | None:
    query = select(*_STORED.values()).select_from(DEALS).where(deals.c.id == deal_id)
    if visible is not None:
        query = query.where(visible)
    row = (await conn.execute(query.with_for_update(of=deals))).first()
    return record_of(LockedDeal, row) if row else None


async def rate_in_force(conn: AsyncConnection, currency: str) -> Decimal | None:
    """Today's rate from `currency` to the company currency (1 for the company currency itself)."""
    query = select(
        case(
            (literal(currency) == company_currency, literal(Decimal(1))),
            else_=select(rates_in_force.c.rate)
            .where(rates_in_force.c.currency == currency)
            .scalar_subquery(),
        )
    )
    value: Decimal | None = await conn.scalar(query)
    return value


async def insert_deal(conn: AsyncConnection, values: dict[str, Any]) -> int:
    deal_id: int = (await conn.execute(insert(deals).values(**values).returning(deals.c.id))).scalar_one()
    return deal_id


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    old: str | None
    new: str | None


async def update_deal(
    conn: AsyncConnection, deal_id: int, values: dict[str, Any], changes: Sequence[Change], actor_id: int
) -> None:
    """Store the new values, bump the version and append one history row per changed field."""
    await conn.execute(
        update(deals)
        .where(deals.c.id == deal_id)
        .values(**values, version=deals.c.version + 1, updated_at=func.now())
    )
    if changes:
        await conn.execute(
            insert(deal_changes),
            [
                {
                    "deal_id": deal_id,
                    "actor_id": actor_id,
                    "field": c.field,
                    "old_value": c.old,
                    "new_value": c.new,
                }
                for c in changes
            ],
        )


@dataclass(frozen=True, slots=True)
class DealChangeRecord:
    """A recorded change, its values as the API shows them (a probability as 0.2, not 0.2000), and the
    stage or owner it names before and after, for those fields."""

    id: int
    deal_id: int
    at: datetime
    actor_id: int | None
    field: str
    old_value: str | None
    new_value: str | None
    old_stage_id: int | None
    new_stage_id: int | None
    old_owner_id: int | None
    new_owner_id: int | None


def _readable(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """A stored value in its field's own format: numbers without trailing zeros (probability 0.2)."""
    field = deal_changes.c.field
    return case((field == "probability", cast(func.trim_scale(cast(value, Numeric)), Text)), else_=value)


def _key(field: str, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """The stage or owner a value names, for that field's changes."""
    return case((deal_changes.c.field == field, cast(value, BigInteger)))


# A DealChangeRecord's values by field name.
CHANGE_COLUMNS: dict[str, ColumnElement[Any]] = {
    **columns_of(DealChangeRecord, deal_changes, ("id", "deal_id", "at", "actor_id", "field")),
    "old_value": _readable(deal_changes.c.old_value),
    "new_value": _readable(deal_changes.c.new_value),
    "old_stage_id": _key("stage", deal_changes.c.old_value),
    "new_stage_id": _key("stage", deal_changes.c.new_value),
    "old_owner_id": _key("owner", deal_changes.c.old_value),
    "new_owner_id": _key("owner", deal_changes.c.new_value),
}
# History values that are keys of other objects, and the type whose global ID shows them.
SHOWN_AS_ID = {"stage": "Stage", "owner": "User"}
HISTORY_ORDER = Ordering("history.NEWEST_FIRST", (deal_changes.c.id,), descending=True)


def history_query(deal: ColumnElement[Any]) -> Select[Any]:
    """A deal's recorded changes (order them by HISTORY_ORDER)."""
    return select(*(column.label(name) for name, column in CHANGE_COLUMNS.items())).where(
        deal_changes.c.deal_id == deal
    )


async def history_by_deal(
    conn: AsyncConnection, deal_ids: Sequence[int], page: PageRequest
) -> dict[int, Page[DealChangeRecord]]:
    def build(parent: ColumnElement[Any]) -> tuple[Select[Any], Ordering]:
        return history_query(parent), HISTORY_ORDER

    return await fetch_pages(conn, deal_ids, build, page, lambda row: record_of(DealChangeRecord, row))


# Over a close-date range (docs/domain.md): how a deal's stage moved and its weighted amount changed, from
# the start of the range to its end (UTC), for deals created before the range starts. One SQL definition,
# for the executed path (deal_signals) and the compiled one (schema/compiled/types.py).


def _value_at(
    deal_id: ColumnElement[Any], field: str, now: ColumnElement[Any], moment: Any
) -> ColumnElement[Any]:
    """A field's value (as text) at `moment`: its old value in the first change from then on, else now's."""
    first_change = (
        select(deal_changes.c.old_value)
        .where(deal_changes.c.deal_id == deal_id, deal_changes.c.field == field, deal_changes.c.at >= moment)
        .order_by(deal_changes.c.id)
        .limit(1)
        .correlate_except(deal_changes)  # the deal, however deep this is nested
        .scalar_subquery()
    )
    return func.coalesce(first_change, cast(now, Text))


def _direction(
    before: ColumnElement[Any], after: ColumnElement[Any], up: str, down: str
) -> ColumnElement[str]:
    return case((after > before, literal(up)), (after < before, literal(down)), else_=literal(NO_CHANGE))


def signals(
    deal: Callable[[str], ColumnElement[Any]], since: Any, until: Any
) -> tuple[ColumnElement[str], ColumnElement[str]]:
    """(stage movement, weighted change) between the moments `since` and `until`, of the deal whose
    DEAL_COLUMNS `deal(name)` gives. The weighted amount converts both ends at today's rates, so a change
    of exchange rate alone never reads as a change of the deal."""

    def at(moment: Any) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
        key = deal("id")
        stage = cast(_value_at(key, "stage", deal("stage_id"), moment), BigInteger)
        order = (
            select(stages.c.display_order)
            .where(stages.c.id == stage)
            .correlate_except(stages)
            .scalar_subquery()
        )
        currency = _value_at(key, "currency", deal("currency"), moment)
        rate = case(
            (currency == company_currency, literal(Decimal(1))),
            else_=func.coalesce(
                select(rates_in_force.c.rate)
                .where(rates_in_force.c.currency == currency)
                .correlate_except(rates_in_force)
                .scalar_subquery(),
                literal(Decimal(0)),
            ),
        )
        amount = cast(_value_at(key, "amount", deal("amount"), moment), Numeric)
        probability = cast(_value_at(key, "probability", deal("probability"), moment), Numeric)
        return order, amount * probability * rate

    (order_before, weighted_before), (order_after, weighted_after) = at(since), at(until)
    existed = deal("created_at") < since
    movement = _direction(order_before, order_after, FORWARD, BACKWARD)
    change = _direction(weighted_before, weighted_after, INCREASED, DECREASED)
    none = literal(NO_CHANGE)
    return case((existed, movement), else_=none), case((existed, change), else_=none)


async def deal_signals(
    conn: AsyncConnection, deal_ids: Sequence[int], since: datetime, until: datetime
) -> dict[int, tuple[str, str]]:
    """The signals of these deals between two moments."""
    movement, change = signals(DEAL_COLUMNS.__getitem__, since, until)
    query = select(deals.c.id, movement, change).select_from(DEALS).where(among(deals.c.id, deal_ids))
    return {row[0]: (row[1], row[2]) for row in await conn.execute(query)}
