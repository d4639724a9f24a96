"""What predictions are learned from and applied to (docs/domain.md §9), in two statements.

- `learned`: per stage of a pipeline, the deals closed during a lookback that were ever in the stage,
  how many of them were won, and how many slipped (their close date at the lookback's end fell in a later
  period than the one they had when they first entered the stage) — read from the deal versions as they
  were at the lookback's end, so the answer for a past moment never changes.
- `open_deal_groups`: per row key (a user, a team's counted users, or the company's) and stage, the open
  deals of a period that the viewer may see: count, Σ amount, Σ amount², Σ amount³ (company currency) —
  today's from the stage rollups (db/stage_rollups.py) summed per key in SQL, with every amount of the
  keys that have at most 64; or as of a moment from the versions (the backtest), per owner, with the six
  largest of an owner's many.
"""

import asyncio
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    SmallInteger,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    extract,
    func,
    literal,
    select,
    tuple_,
    union,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection

from db.deals import rate_of, rates_in_force, rates_on
from db.forecasts.table import COMPANY, Rows, rollup_rates
from db.periods import Period
from db.rollups import bucket
from db.sql import OwnerFilter, OwnerScope
from db.tables import deal_versions, deals, stage_rollups, stages, team_memberships, users
from db.teams import team_closure
from db.vocabulary import LOST, OPEN, TEAM, USER, WON

LARGEST = 6  # an owner's largest open deals of a stage that are always read
ALL_OF_OWNER = 64  # a row key (or, as of a moment, an owner) with at most this many open deals has every
# amount read (= the prediction's LATTICE_LIMIT)

_PIPELINE = bindparam("pipeline_id", type_=BigInteger)
_AT = bindparam("at", type_=DateTime(timezone=True))
_FROM = bindparam("from_day", type_=Date)
_UNTIL = bindparam("until_day", type_=Date)  # exclusive
_WIDTH = bindparam("width", type_=Integer)
_SPAN = bindparam("span", type_=SmallInteger)
_OFFSET = bindparam("offset", type_=Integer)
_USER_IDS = bindparam("user_ids", type_=ARRAY(BigInteger))
_TEAM_IDS = bindparam("team_ids", type_=ARRAY(BigInteger))
_COMPANY = bindparam("company", type_=Boolean)
_USERS_OF_TEAMS = bindparam("users_of_teams", type_=ARRAY(BigInteger))
_EVERY_USER = bindparam("every_user", type_=Boolean)


@dataclass(frozen=True, slots=True)
class StageCounts:
    stage_id: int
    probability: Decimal
    observed: int
    won: int
    slipped: int


def lookback_values(
    pipeline_id: int, at: datetime, first: Period, last: Period, fiscal_start: int
) -> dict[str, Any]:
    """The parameters of `learned` for the deals closed in periods first … last, as of `at`."""
    return {
        "pipeline_id": pipeline_id,
        "at": at,
        "from_day": first.start(fiscal_start),
        "until_day": last.shifted(1).start(fiscal_start),
        "width": 1 if first.kind == "MONTH" else 3,
        "offset": 0 if first.kind == "MONTH" else fiscal_start - 1,
    }


def _period_index(day: Any) -> Any:
    """A close date's period as a number (consecutive periods, consecutive numbers)."""
    month = extract("year", day) * 12 + extract("month", day) - 1 - _OFFSET
    return func.floor(month / _WIDTH)


def _learned_statement() -> Any:
    v = deal_versions.c
    at_end = (
        select(v.deal_id, v.stage_id, v.close_date)
        .where(v.pipeline_id == _PIPELINE, v.valid_from <= _AT, v.valid_to > _AT)
        .where(v.close_date >= _FROM, v.close_date < _UNTIL)
        .cte("at_end")
    )
    closed = (
        select(at_end.c.deal_id, (stages.c.state == WON).label("won"), at_end.c.close_date)
        .select_from(at_end.join(stages, stages.c.id == at_end.c.stage_id))
        .where(stages.c.state.in_([WON, LOST]))
        .cte("closed")
    )
    entered = (
        select(v.deal_id, v.stage_id, v.close_date.label("first_close"))
        .select_from(deal_versions.join(closed, closed.c.deal_id == v.deal_id))
        .where(v.valid_from <= _AT)
        .ext(distinct_on(v.deal_id, v.stage_id))
        .order_by(v.deal_id, v.stage_id, v.valid_from)
        .cte("entered")
    )
    per_stage = (
        select(
            entered.c.stage_id,
            func.count().label("observed"),
            func.count().filter(closed.c.won).label("won"),
            func.count()
            .filter(_period_index(closed.c.close_date) > _period_index(entered.c.first_close))
            .label("slipped"),
        )
        .select_from(entered.join(closed, closed.c.deal_id == entered.c.deal_id))
        .group_by(entered.c.stage_id)
        .subquery("per_stage")
    )
    basis = select(func.count()).select_from(closed).scalar_subquery()
    return (
        select(
            stages.c.id,
            stages.c.probability,
            func.coalesce(per_stage.c.observed, 0),
            func.coalesce(per_stage.c.won, 0),
            func.coalesce(per_stage.c.slipped, 0),
            basis.label("basis"),
        )
        .select_from(stages.outerjoin(per_stage, per_stage.c.stage_id == stages.c.id))
        .where(stages.c.pipeline_id == _PIPELINE)
        .order_by(stages.c.display_order)
    )


_LEARNED = _learned_statement()
# What was learned, per database and lookback: the versions it reads all began before the lookback's end,
# so it stays true — but for a deal deleted since, `pipecast history rebuild`, or a stage's new
# probability (the caller forgets it then; other processes within LEARNED_TTL).
LEARNED_TTL = 600.0
_KNOWN: dict[Hashable, tuple[float, list[StageCounts], int]] = {}
_READING: dict[Hashable, "asyncio.Future[tuple[list[StageCounts], int]]"] = {}


async def learned(
    conn: AsyncConnection, values: Mapping[str, Any], *, cached: bool = True
) -> tuple[list[StageCounts], int]:
    """Each stage's counts (display order) over the lookback of `values` (lookback_values), and how many
    closed deals they rest on; at most LEARNED_TTL seconds old when `cached`, read once for concurrent
    callers (a table's rows and the subjects' rows of one request)."""
    key = (str(conn.engine.url), *sorted(values.items()))
    known = _KNOWN.get(key) if cached else None
    if known is not None and time.monotonic() - known[0] < LEARNED_TTL:
        return known[1], known[2]
    reading = _READING.get(key) if cached else None
    if reading is not None:
        return await asyncio.shield(reading)
    reading = _READING[key] = asyncio.get_running_loop().create_future()
    reading.add_done_callback(lambda done: done.cancelled() or done.exception())
    try:
        rows = (await conn.execute(_LEARNED, dict(values))).all()
        basis = int(rows[0][5]) if rows else 0
        counts = [StageCounts(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows]
        _KNOWN[key] = (time.monotonic(), counts, basis)
        reading.set_result((counts, basis))
        return counts, basis
    except BaseException as error:
        reading.set_exception(error)
        raise
    finally:
        _READING.pop(key, None)


def forget_learned() -> None:
    """Learn again on the next read (a stage's probability changed)."""
    _KNOWN.clear()


@dataclass(frozen=True, slots=True)
class GroupRow:
    """An owner's open deals of one stage, as read for one row key."""

    key: tuple[str, int | None]
    stage_id: int
    count: int
    total: Decimal
    squares: float
    cubes: float
    largest: Sequence[float]


def _row_owners(visible: OwnerFilter) -> Any:
    """(kind, subject, owner), once each: each asked user (with a seat), each counted user of the teams
    whose users are asked, with `every_user` every sales-seat user; each asked team's counted users; and
    with `company` every sales-seat user — of those the viewer may see. The rows of a forecast table
    (db.forecasts.table.Rows)."""
    u, m = users.c, team_memberships.c
    closure = team_closure()
    allowed = visible(u.id)
    where = [allowed] if allowed is not None else []
    of_users = select(literal(USER).label("kind"), u.id.label("subject"), u.id.label("owner")).where(
        u.id == any_(_USER_IDS), u.sales_seat, *where
    )
    counted = users.join(team_memberships, and_(m.user_id == u.id, m.is_primary)).join(
        closure, closure.c.team == m.team_id
    )
    of_counted = (
        select(literal(USER), u.id, u.id)
        .select_from(counted)
        .where(closure.c.ancestor == any_(_USERS_OF_TEAMS), u.sales_seat, *where)
    )
    of_every = select(literal(USER), u.id, u.id).where(_EVERY_USER, u.sales_seat, *where)
    of_teams = (
        select(literal(TEAM), closure.c.ancestor, u.id)
        .select_from(counted)
        .where(closure.c.ancestor == any_(_TEAM_IDS), u.sales_seat, *where)
    )
    of_company = select(literal(COMPANY), cast(literal(None), BigInteger), u.id).where(
        _COMPANY, u.sales_seat, *where
    )
    return union(of_users, of_counted, of_every, of_teams, of_company).cte("row_owners")


def _open_deals(owners: Any, as_of: bool, among: Any = None) -> Any:
    """(owner_id, stage_id, amount in the company currency) of the open deals of the period owned by
    `owners` (and `among`, when given): today's deals at today's rates, or (as_of) the versions in force
    at the moment at the rates in force on its day."""
    if as_of:
        v = deal_versions.c
        rates = rates_on(cast(func.timezone("UTC", _AT), Date))
        source = deal_versions.join(stages, stages.c.id == v.stage_id).outerjoin(
            rates, rates.c.currency == v.currency
        )
        amount = v.amount * rate_of(v.frozen_rate, v.currency, rates.c.rate)
        owner, stage, close = v.owner_id, v.stage_id, v.close_date
        when = [v.pipeline_id == _PIPELINE, v.valid_from <= _AT, v.valid_to > _AT]
    else:
        d = deals.c
        source = deals.join(stages, stages.c.id == d.stage_id).outerjoin(
            rates_in_force, rates_in_force.c.currency == d.currency
        )
        amount = d.amount * rate_of(d.frozen_rate, d.currency, rates_in_force.c.rate)
        owner, stage, close = d.owner_id, d.stage_id, d.close_date
        when = [d.pipeline_id == _PIPELINE]
    return (
        select(owner.label("owner_id"), stage.label("stage_id"), amount.label("amount"))
        .select_from(source)
        .where(*when, close >= _FROM, close < _UNTIL, stages.c.state == OPEN, amount.is_not(None))
        .where(owner.in_(select(owners.c.owner)))
        .where(*([owner.in_(among)] if among is not None else []))
        .subquery("open_deals")
    )


def _groups_statement(visible: OwnerFilter, as_of: bool) -> Any:
    """The groups as ONE json value: thousands of rows cost more to fetch one by one than to parse."""
    grouped = (_groups_as_of(visible) if as_of else _groups_today(visible)).subquery("grouped")
    c = grouped.c
    fields = [c.kind, c.subject, c.stage_id, c.n, cast(c.total, Text), c.squares, c.cubes, c.largest]
    # In a fixed order: the floating sums over owners, and so the percentiles, are the same every time.
    order = [c.kind, c.subject, c.stage_id, c.total, c.n, c.squares]
    # As text: orjson parses it several times faster than the driver's json codec.
    return select(cast(func.json_agg(aggregate_order_by(func.json_build_array(*fields), *order)), Text))


def _groups_today(visible: OwnerFilter) -> Any:
    """From the stage rollups of the period's months (converted at today's rates: r·Σa, r²·Σa², r³·Σa³),
    and the open deals themselves of the owners with at most ALL_OF_OWNER of them."""
    owners = _row_owners(visible)
    r = stage_rollups.c
    rates = rollup_rates().subquery("rates")
    rate = cast(rates.c.rate, Float)
    moments = (
        select(
            r.owner_id,
            r.stage_id,
            func.sum(r.deals).label("n"),
            func.sum(r.amount * rates.c.rate).label("total"),
            # Σa² and Σa³ only weigh the spread: in floating point, far cheaper than NUMERIC's digits.
            func.sum(cast(r.squares, Float) * rate * rate).label("squares"),
            func.sum(cast(r.cubes, Float) * rate * rate * rate).label("cubes"),
        )
        .select_from(stage_rollups.join(rates, rates.c.code == r.currency))
        .where(r.pipeline_id == _PIPELINE, r.span == _SPAN, r.month == _FROM)
        .where(r.owner_id.in_(select(owners.c.owner)))
        .group_by(r.owner_id, r.stage_id)
        .having(func.sum(r.deals) > 0)
        .cte("moments")
    )
    few = (
        select(moments.c.owner_id).group_by(moments.c.owner_id).having(func.sum(moments.c.n) <= ALL_OF_OWNER)
    )
    o = _open_deals(owners, as_of=False, among=few)
    a = cast(o.c.amount, Float)
    m = moments.c
    keyed = (
        select(
            owners.c.kind,
            owners.c.subject,
            m.stage_id,
            func.sum(m.n).label("n"),
            func.sum(m.total).label("total"),
            func.sum(m.squares).label("squares"),
            func.sum(m.cubes).label("cubes"),
        )
        .select_from(owners.join(moments, m.owner_id == owners.c.owner))
        .group_by(owners.c.kind, owners.c.subject, m.stage_id)
        .cte("keyed")
    )
    # The amounts of the keys of at most ALL_OF_OWNER deals (every one of them then known): a larger row
    # takes the normal's own percentiles, so its deals need not be read.
    small = (
        select(keyed.c.kind, func.coalesce(keyed.c.subject, 0))
        .group_by(keyed.c.kind, keyed.c.subject)
        .having(func.sum(keyed.c.n) <= ALL_OF_OWNER)
    )
    amounts = (
        select(
            owners.c.kind,
            owners.c.subject,
            o.c.stage_id,
            func.array_agg(aggregate_order_by(a, a.desc())).label("largest"),
        )
        .select_from(owners.join(o, o.c.owner_id == owners.c.owner))
        .where(tuple_(owners.c.kind, func.coalesce(owners.c.subject, 0)).in_(small))
        .group_by(owners.c.kind, owners.c.subject, o.c.stage_id)
        .subquery("amounts")
    )
    k = keyed.c
    same = and_(
        amounts.c.kind == k.kind,
        # (the company's subject is null; an equality, unlike IS NOT DISTINCT FROM, can be hashed)
        func.coalesce(amounts.c.subject, 0) == func.coalesce(k.subject, 0),
        amounts.c.stage_id == k.stage_id,
    )
    return select(
        k.kind, k.subject, k.stage_id, k.n, k.total, k.squares, k.cubes, amounts.c.largest.label("largest")
    ).select_from(keyed.outerjoin(amounts, same))


def _groups_as_of(visible: OwnerFilter) -> Any:
    """From the versions in force at the moment (the backtest)."""
    owners = _row_owners(visible)
    o = _open_deals(owners, as_of=True)
    a = cast(o.c.amount, Float)
    ordered = func.array_agg(aggregate_order_by(a, a.desc()))
    count = func.count()
    per_owner = (
        select(
            o.c.owner_id,
            o.c.stage_id,
            count.label("n"),
            func.sum(o.c.amount).label("total"),
            func.sum(a * a).label("squares"),
            func.sum(a * a * a).label("cubes"),
            case(
                (func.sum(count).over(partition_by=o.c.owner_id) <= ALL_OF_OWNER, ordered),
                else_=ordered[1:LARGEST],
            ).label("largest"),
        )
        .group_by(o.c.owner_id, o.c.stage_id)
        .subquery("per_owner")
    )
    p = per_owner.c
    return select(
        owners.c.kind, owners.c.subject, p.stage_id, p.n, p.total, p.squares, p.cubes, p.largest
    ).select_from(owners.join(per_owner, per_owner.c.owner_id == owners.c.owner))


_GROUPS: dict[Hashable, Any] = {}


async def open_deal_groups(
    conn: AsyncConnection,
    pipeline_id: int,
    period: Period,
    fiscal_start: int,
    *,
    rows: Rows,
    visible: OwnerScope,
    as_of: datetime | None = None,
) -> list[GroupRow]:
    """The open deals of a period per key of the rows ((USER, id), (TEAM, id), (COMPANY, None)) and stage
    (as_of: and owner), in one statement."""
    shape = (visible.shape, as_of is not None)
    statement = _GROUPS.get(shape)
    if statement is None:
        statement = _GROUPS[shape] = _groups_statement(visible.predicate, as_of is not None)
    values = {
        "pipeline_id": pipeline_id,
        "from_day": period.start(fiscal_start),
        "until_day": period.shifted(1).start(fiscal_start),
        "span": bucket(period, fiscal_start)[0],
        "user_ids": list(rows.user_ids),
        "users_of_teams": list(rows.users_of_teams),
        "every_user": rows.every_user,
        "team_ids": list(rows.team_ids),
        "company": rows.company,
        **({"at": as_of} if as_of is not None else {}),
        **visible.values,
    }
    found = await conn.scalar(statement, values)
    rows_ = orjson.loads(found or "[]")
    return [
        GroupRow((kind, subject), stage, n, Decimal(total), float(sq), float(cu), tuple(largest or ()))
        for kind, subject, stage, n, total, sq, cu, largest in rows_
    ]
