"""Deals: reads, createDeal and updateDeal with history, category rules and rate freezing (docs/domain.md)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, literal, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from db import deals as db
from db.deals import Change, DealChangeRecord, DealFilter, DealRecord, LockedDeal
from db.pagination import Page, PageRequest
from db.periods import Period
from db.pipelines import StageRecord, pipelines_by_ids, stages_by_ids
from db.users import users_by_ids
from resolvers import validation as check
from resolvers.common import found
from resolvers.context import Context
from resolvers.errors import BadUserInput, Conflict, Forbidden
from resolvers.pipelines import company_settings

FORCED_CATEGORY = {"WON": "CLOSED_WON", "LOST": "NOT_FORECASTED"}


async def deals_by_ids(context: Context, ids: Iterable[int]) -> list[DealRecord | None]:
    async with context.engine.connect() as conn:
        found_ = await db.deals_by_ids(conn, list(ids), context.access.deals_visible())
    return [found_.get(i) for i in ids]


async def deals_page(
    context: Context, where: DealFilter, *, order: str, page: PageRequest
) -> Page[DealRecord]:
    async with context.engine.connect() as conn:
        return await db.list_deals(
            conn,
            where,
            visible=context.access.deals_visible(),
            order=order,
            page=page,
        )


async def deals_of(
    context: Context,
    parent_kind: str,
    parent_id: int,
    where: DealFilter,
    *,
    order: str,
    page: PageRequest,
) -> Page[DealRecord]:
    """A user's ("owner") or a team's ("team", with descendants) deals, batched over all parents."""
    visible = context.access.deals_visible()

    async def fetch(conn: AsyncConnection, parents: Sequence[int]) -> dict[int, Page[DealRecord]]:
        return await db.deals_by_parent(
            conn,
            parents,
            parent_kind,
            where,
            visible=visible,
            order=order,
            page=page,
        )

    loader = context.loaders.pages(("deals", parent_kind, where, order, page), fetch)
    deals: Page[DealRecord] = await loader.load(parent_id)
    return deals


async def history(context: Context, deal_id: int, page: PageRequest) -> Page[DealChangeRecord]:
    async def fetch(conn: AsyncConnection, deal_ids: Sequence[int]) -> dict[int, Page[DealChangeRecord]]:
        return await db.history_by_deal(conn, deal_ids, page)

    changes: Page[DealChangeRecord] = await context.loaders.pages(("history", page), fetch).load(deal_id)
    return changes


@dataclass(frozen=True)
class NewDeal:
    """createDeal's arguments with IDs decoded."""

    name: str
    pipeline_id: int
    stage_id: int
    amount: Decimal
    currency: str | None
    close_date: date
    owner_id: int | None
    forecast_category: str | None
    probability: float | None
    next_step: str | None


@dataclass(frozen=True)
class DealInput:
    """updateDeal's arguments with IDs decoded; None means "not given"."""

    name: str | None = None
    stage_id: int | None = None
    amount: Decimal | None = None
    currency: str | None = None
    close_date: date | None = None
    owner_id: int | None = None
    forecast_category: str | None = None
    reset_forecast_category: bool = False
    probability: float | None = None
    next_step: str | None = None
    clear: frozenset[str] = (
        frozenset()
    )  # nullable fields explicitly set to null: owner, probability, nextStep


async def _stage(conn: AsyncConnection, stage_id: int) -> StageRecord:
    return found((await stages_by_ids(conn, [stage_id])).get(stage_id), "Stage", stage_id)


async def _rate(conn: AsyncConnection, currency: str) -> Decimal:
    value = await db.rate_in_force(conn, currency)
    if value is None:
        raise BadUserInput(
            f"currency: no exchange rate for {currency} is in force today; set one with setExchangeRate"
        )
    return value


def _category(manual: str | None, stage: StageRecord) -> str:
    return FORCED_CATEGORY.get(stage.state) or manual or stage.forecast_category


def _manual_category(value: str, stage: StageRecord) -> str:
    if stage.state != "OPEN":
        raise BadUserInput(
            f"forecastCategory: a deal in a {stage.state} stage is always {FORCED_CATEGORY[stage.state]}"
        )
    if value == "CLOSED_WON":
        raise BadUserInput(
            "forecastCategory: CLOSED_WON belongs to deals in a won stage; move the deal there"
        )
    return value


async def create_deal(context: Context, data: NewDeal) -> int:
    name = check.name(data.name)
    amount = check.money(data.amount)
    probability = check.probability(data.probability) if data.probability is not None else None
    next_step = check.text(data.next_step, "nextStep")
    async with context.engine.begin() as conn:
        currency = (
            check.currency(data.currency) if data.currency else (await company_settings(context)).currency
        )
        found(
            (await pipelines_by_ids(conn, [data.pipeline_id])).get(data.pipeline_id),
            "Pipeline",
            data.pipeline_id,
        )
        stage = await _stage(conn, data.stage_id)
        if stage.pipeline_id != data.pipeline_id:
            raise BadUserInput("stageId: that stage belongs to another pipeline")
        if data.owner_id is not None:
            found((await users_by_ids(conn, [data.owner_id])).get(data.owner_id), "User", data.owner_id)
        manual = _manual_category(data.forecast_category, stage) if data.forecast_category else None
        rate = await _rate(conn, currency)
        [may_own] = await _may_edit(conn, context, [data.owner_id])
        if not may_own:
            raise Forbidden(_OUTSIDE_REACH)
        return await db.insert_deal(
            conn,
            {
                "name": name,
                "owner_id": data.owner_id,
                "pipeline_id": data.pipeline_id,
                "stage_id": stage.id,
                "amount": amount,
                "currency": currency,
                "frozen_rate": rate if stage.state != "OPEN" else None,
                "close_date": data.close_date,
                "forecast_category": manual,
                "probability": probability,
                "next_step": next_step,
            },
        )


_OUTSIDE_REACH = "giving a deal to that owner needs the deal:edit permission over their deals"


async def _may_edit(conn: AsyncConnection, context: Context, owners: list[int | None]) -> list[bool]:
    """Whether deal:edit reaches a deal owned by each of `owners` (None: unassigned), in one statement."""
    checks = [context.access.owners("deal", "edit", literal(owner, BigInteger)) for owner in owners]
    if all(check is None for check in checks):
        return [True] * len(owners)
    row = (await conn.execute(select(*(true() if c is None else c for c in checks)))).one()
    return [bool(value) for value in row]


async def reload(context: Context, deal_id: int) -> DealRecord:
    """A deal the viewer just wrote, as stored (a reassignment may have moved it out of their view)."""
    async with context.engine.connect() as conn:
        return (await db.deals_by_ids(conn, [deal_id]))[deal_id]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


async def update_deal(context: Context, deal_id: int, data: DealInput, expected_version: int | None) -> int:
    if data.forecast_category and data.reset_forecast_category:
        raise BadUserInput("give either forecastCategory or resetForecastCategory: true, not both")
    async with context.engine.begin() as conn:
        deal = found(await db.lock_deal(conn, deal_id, context.access.deals_visible()), "Deal", deal_id)
        if expected_version is not None and expected_version != deal.version:
            raise Conflict(
                f"the deal was changed meanwhile (it is at version {deal.version}, "
                f"you expected {expected_version}): reload it and try again"
            )
        values, changes = await _changes(conn, deal, data)
        new_owner = values.get("owner_id", deal.owner_id)
        rights = await _may_edit(conn, context, [deal.owner_id, new_owner])
        if not rights[0]:
            raise Forbidden("changing this deal needs the deal:edit permission over its owner's deals")
        if not rights[1]:
            raise Forbidden(_OUTSIDE_REACH)
        if values:
            await db.update_deal(conn, deal_id, values, changes, context.viewer.id)
    return deal_id


async def _changes(
    conn: AsyncConnection, deal: LockedDeal, data: DealInput
) -> tuple[dict[str, Any], list[Change]]:
    """The columns to store and the history to append for an update of `deal`."""
    old_stage = await _stage(conn, deal.stage_id)
    stage = old_stage
    if data.stage_id is not None and data.stage_id != deal.stage_id:
        stage = await _stage(conn, data.stage_id)
        if stage.pipeline_id != deal.pipeline_id:
            raise BadUserInput("stageId: that stage belongs to another pipeline")
    new = await _plain_fields(conn, data) | {"stage_id": stage.id}

    # The manual category: kept across stage changes, set or dropped on request, cleared when the deal closes.
    manual = deal.forecast_category
    if data.forecast_category:
        manual = _manual_category(data.forecast_category, stage)
    if data.reset_forecast_category or stage.state != "OPEN":
        manual = None
    new["forecast_category"] = manual

    # The rate: frozen when the deal enters a closed stage (or changes currency while closed), free when open.
    currency = new.get("currency", deal.currency)
    if "currency" in new:
        await _rate(conn, currency)
    if stage.state == "OPEN":
        new["frozen_rate"] = None
    elif old_stage.state == "OPEN" or currency != deal.currency:
        new["frozen_rate"] = await _rate(conn, currency)
    return _history(deal, old_stage, stage, new)


async def _plain_fields(conn: AsyncConnection, data: DealInput) -> dict[str, Any]:
    new: dict[str, Any] = {}
    if data.name is not None:
        new["name"] = check.name(data.name)
    if data.amount is not None:
        new["amount"] = check.money(data.amount)
    if data.currency is not None:
        new["currency"] = check.currency(data.currency)
    if data.close_date is not None:
        new["close_date"] = data.close_date
    if data.owner_id is not None:
        found((await users_by_ids(conn, [data.owner_id])).get(data.owner_id), "User", data.owner_id)
        new["owner_id"] = data.owner_id
    if data.probability is not None:
        new["probability"] = check.probability(data.probability)
    if data.next_step is not None:
        new["next_step"] = check.text(data.next_step, "nextStep")
    for field, column in (("owner", "owner_id"), ("probability", "probability"), ("nextStep", "next_step")):
        if field in data.clear:
            new[column] = None
    return new


def _history(
    deal: LockedDeal, old_stage: StageRecord, stage: StageRecord, new: dict[str, Any]
) -> tuple[dict[str, Any], list[Change]]:
    stored = {
        "name": deal.name,
        "stage_id": deal.stage_id,
        "amount": deal.amount,
        "currency": deal.currency,
        "close_date": deal.close_date,
        "owner_id": deal.owner_id,
        "probability": deal.probability,
        "next_step": deal.next_step,
        "forecast_category": deal.forecast_category,
        "frozen_rate": deal.frozen_rate,
    }
    values = {k: v for k, v in new.items() if v != stored[k]}
    changes = [
        Change(field, _text(stored[column]), _text(new[column]))
        for field, column in (
            ("name", "name"),
            ("stage", "stage_id"),
            ("amount", "amount"),
            ("currency", "currency"),
            ("closeDate", "close_date"),
            ("owner", "owner_id"),
            ("nextStep", "next_step"),
        )
        if column in values
    ]
    old_category = _category(deal.forecast_category, old_stage)
    new_category = _category(new["forecast_category"], stage)
    if old_category != new_category:
        changes.append(Change("forecastCategory", old_category, new_category))
    old_probability = deal.probability if deal.probability is not None else old_stage.probability
    new_probability = new.get("probability", deal.probability)
    new_probability = new_probability if new_probability is not None else stage.probability
    if old_probability != new_probability:
        changes.append(Change("probability", str(old_probability), str(new_probability)))
    return values, changes


async def deal_filter(context: Context, period: Period | None, where: DealFilter) -> DealFilter:
    """`where` narrowed to the period's close dates (quarters follow the company's fiscal year)."""
    if period is None:
        return where
    fiscal_start = (await company_settings(context)).fiscal_year_start_month
    start, end = period.start(fiscal_start), period.end(fiscal_start)
    return replace(
        where,
        close_from=max(start, where.close_from) if where.close_from else start,
        close_to=min(end, where.close_to) if where.close_to else end,
    )


async def signals(context: Context, deal: DealRecord, start: date, end: date) -> tuple[str, str]:
    """(stage movement, weighted change) over the close-date range [start, end] (docs/domain.md; the SQL
    definition is db.deals.signals), batched over every deal of the request."""
    since, until = signal_moments(start, end)

    async def fetch(conn: AsyncConnection, deal_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        return await db.deal_signals(conn, deal_ids, since, until)

    found: tuple[str, str] = await context.loaders.by_arguments(("signals", since, until), fetch, None).load(
        deal.id
    )
    return found


def signal_moments(start: date, end: date) -> tuple[datetime, datetime]:
    """The moments a close-date range's signals compare: the start of `start` and the end of `end` (UTC);
    BAD_USER_INPUT when the range is reversed."""
    if end < start:
        raise BadUserInput(f"to ({end}) is before from ({start})")
    return datetime.combine(start, time.min, UTC), datetime.combine(end + timedelta(days=1), time.min, UTC)
