"""Deal versions: every deal's state at any past moment (docs/domain.md, "History"), kept by PostgreSQL in
the transaction of every write, and what a forecast was as of a moment.

A version holds the fields a forecast reads (pipeline, owner, stage, amount, currency, frozen rate, close
date, manual category, probability override) and the moments it was valid over, [valid_from, valid_to):
a deal's first version starts when the deal was created, each write that changes one of those fields
closes the current version at the write's clock time and opens the next, and the current version runs to
infinity. Statement-level triggers with transition tables do it for every INSERT, UPDATE or COPY of deals
(a rolled-back write leaves no version); a deal's delete takes its versions with it.

The migration that introduced the table, the seed and `pipecast history rebuild` fill it from the recorded
changes (deal_changes) with `backfill_statement`: the value of a field at a moment is the old value of its
first change after the moment, else today's. The history records a deal's *effective* category and
probability (the stage's unless overridden); a version's override is that value where it differs from
what its stage gives today, and, for deals whose history never recorded the field, the deal's override of
today. A closed version's frozen rate is the deal's (when it is closed in the same currency today), else
the rate in force on the day the version began.

As of a moment T, the forecast's figures are the rollups (today's) minus what the versions that began
after T add, plus what the versions that ended after T add: a read that costs what the changes since T
cost, not what the deals cost (`as_of_rollups`; for many moments at once, `trend_rollups`). The waterfall
(`waterfall`) compares the versions of the subject's changed deals at two moments.
"""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    Select,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    text,
    true,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from db import rollups
from db.deals import category_of, probability_of, rate_of, rates_on
from db.sql import OwnerFilter, OwnerScope
from db.tables import deal_rollups, deal_versions, stages, team_memberships, users
from db.teams import team_closure
from db.vocabulary import CLOSED_WON, IN_TOTAL, LOST, WON

VERSIONED = [
    "pipeline_id",
    "owner_id",
    "stage_id",
    "amount",
    "currency",
    "frozen_rate",
    "close_date",
    "forecast_category",
    "probability",
]
_COLUMNS = ", ".join(VERSIONED)


def _moved(old: str, new: str) -> str:
    """SQL: the row `new` differs from `old` in a versioned field."""
    before, after = (", ".join(f"{row}.{c}" for c in VERSIONED) for row in (old, new))
    return f"({after}) IS DISTINCT FROM ({before})"


def install_statements() -> list[str]:
    """The trigger functions and triggers that keep the versions (re-runnable)."""
    return [
        f"""CREATE OR REPLACE FUNCTION pipecast_versions_insert() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  INSERT INTO deal_versions (deal_id, valid_from, {_COLUMNS})
  SELECT id, created_at, {_COLUMNS} FROM new_deals;
  RETURN NULL;
END
$body$""",
        # One clock reading per statement: the version a write closes ends exactly where the next begins
        # (a microsecond after the closed one began, should the clock be behind it).
        f"""CREATE OR REPLACE FUNCTION pipecast_versions_update() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
  at timestamptz := clock_timestamp();
BEGIN
  WITH moved AS (
    SELECT n.* FROM new_deals n JOIN old_deals o ON o.id = n.id WHERE {_moved("o", "n")}
  ), closed AS (
    UPDATE deal_versions v SET valid_to = greatest(at, v.valid_from + interval '1 microsecond')
    FROM moved m WHERE v.deal_id = m.id AND v.valid_to = 'infinity'
    RETURNING v.deal_id, v.valid_to
  )
  INSERT INTO deal_versions (deal_id, valid_from, {_COLUMNS})
  SELECT m.id, coalesce(c.valid_to, at), {", ".join(f"m.{c}" for c in VERSIONED)}
  FROM moved m LEFT JOIN closed c ON c.deal_id = m.id;
  RETURN NULL;
END
$body$""",
        "DROP TRIGGER IF EXISTS versions_insert ON deals",
        "DROP TRIGGER IF EXISTS versions_update ON deals",
        "CREATE TRIGGER versions_insert AFTER INSERT ON deals REFERENCING NEW TABLE AS new_deals "
        "FOR EACH STATEMENT EXECUTE FUNCTION pipecast_versions_insert()",
        "CREATE TRIGGER versions_update AFTER UPDATE ON deals "
        "REFERENCING OLD TABLE AS old_deals NEW TABLE AS new_deals "
        "FOR EACH STATEMENT EXECUTE FUNCTION pipecast_versions_update()",
    ]


# deal_changes' field names of the versioned fields, their column and SQL type.
_RECORDED = {
    "stage": ("stage_id", "bigint"),
    "amount": ("amount", "numeric"),
    "currency": ("currency", "text"),
    "closeDate": ("close_date", "date"),
    "owner": ("owner_id", "bigint"),
    "forecastCategory": ("category", "text"),
    "probability": ("chance", "numeric"),
}


def _lateral(field: str) -> str:
    """The first recorded change of `field` after a version began (skipped for a deal whose history
    never recorded the field)."""
    name = field.lower()
    return f"""
    LEFT JOIN LATERAL (SELECT true AS found, c.old_value AS v FROM deal_changes c
      WHERE '{field}' = ANY(r.fields) AND c.deal_id = s.deal_id AND c.field = '{field}'
        AND c.at > s.valid_from
      ORDER BY c.at, c.id LIMIT 1) {name}_after ON true"""


def _value(field: str, now: str) -> str:
    """A field's value in a past version: what its first change after the version began changed, else
    what it is now (each change's old value is the one before it, so nothing else need be read)."""
    name = field.lower()
    column, kind = _RECORDED[field]
    return f"CASE WHEN {name}_after.found THEN {name}_after.v::{kind} ELSE {now} END AS {column}"


def backfill_statement(*, changed_only: bool = False) -> str:
    """The SQL that fills deal_versions from the deals and their recorded changes (table empty; or, with
    `changed_only`, without versions of the deals that have recorded changes: theirs only)."""
    now = {
        "stage": "d.stage_id",
        "amount": "d.amount",
        "currency": "d.currency",
        "closeDate": "d.close_date",
        "owner": "d.owner_id",
        "forecastCategory": "CASE ds.state WHEN 'WON' THEN 'CLOSED_WON' WHEN 'LOST' THEN 'NOT_FORECASTED' "
        "ELSE coalesce(d.forecast_category, ds.forecast_category) END",
        "probability": "coalesce(d.probability, ds.probability)",
    }
    fields = ", ".join(f"'{f}'" for f in _RECORDED)
    only = "WHERE d.id IN (SELECT deal_id FROM recorded)" if changed_only else ""
    return f"""
INSERT INTO deal_versions (deal_id, valid_from, valid_to, {_COLUMNS})
WITH recorded AS (
  SELECT deal_id, array_agg(DISTINCT field) AS fields FROM deal_changes WHERE field IN ({fields})
  GROUP BY deal_id
), moments AS (
  SELECT d.id AS deal_id, d.created_at AS at FROM deals d {only}
  UNION
  SELECT c.deal_id, c.at FROM deal_changes c JOIN deals d ON d.id = c.deal_id
  WHERE c.field IN ({fields}) AND c.at > d.created_at
), spans AS (
  SELECT deal_id, at AS valid_from, lead(at) OVER (PARTITION BY deal_id ORDER BY at) AS valid_to FROM moments
), past AS (
  SELECT s.deal_id, s.valid_from, s.valid_to, {", ".join(_value(f, now[f]) for f in _RECORDED)},
    'forecastCategory' = ANY(r.fields) AS category_recorded, 'probability' = ANY(r.fields) AS chance_recorded
  FROM spans s JOIN recorded r ON r.deal_id = s.deal_id
  JOIN deals d ON d.id = s.deal_id JOIN stages ds ON ds.id = d.stage_id
  {"".join(_lateral(f) for f in _RECORDED)}
  WHERE s.valid_to IS NOT NULL
)
SELECT d.id, s.valid_from, 'infinity', d.pipeline_id, d.owner_id, d.stage_id, d.amount, d.currency,
       d.frozen_rate, d.close_date, d.forecast_category, d.probability
FROM spans s JOIN deals d ON d.id = s.deal_id WHERE s.valid_to IS NULL
UNION ALL
SELECT p.deal_id, p.valid_from, p.valid_to, d.pipeline_id, p.owner_id, p.stage_id, p.amount, p.currency,
       CASE WHEN st.state = 'OPEN' THEN NULL
            WHEN d.frozen_rate IS NOT NULL AND d.currency = p.currency THEN d.frozen_rate
            WHEN p.currency = (SELECT currency FROM company_settings) THEN 1
            ELSE (SELECT r.rate FROM exchange_rates r WHERE r.currency = p.currency
                  AND r.valid_from <= (p.valid_from AT TIME ZONE 'UTC')::date
                  ORDER BY r.valid_from DESC LIMIT 1) END,
       p.close_date,
       CASE WHEN st.state <> 'OPEN' THEN NULL
            WHEN p.category_recorded THEN nullif(p.category, st.forecast_category)
            ELSE d.forecast_category END,
       CASE WHEN p.chance_recorded THEN nullif(p.chance, st.probability) ELSE d.probability END
FROM past p JOIN deals d ON d.id = p.deal_id JOIN stages st ON st.id = p.stage_id
"""


async def install(conn: AsyncConnection) -> None:
    for statement in install_statements():
        await conn.execute(text(statement))


async def rebuild(conn: AsyncConnection) -> int:
    """Install the triggers again and rebuild every version from the deals and their recorded changes
    (writers wait meanwhile); returns the number of versions."""
    await conn.execute(text("LOCK TABLE deals IN SHARE ROW EXCLUSIVE MODE"))
    await install(conn)
    await conn.execute(text("DELETE FROM deal_versions"))
    result = await conn.execute(text(backfill_statement()))
    return int(result.rowcount or 0)


def as_of_rollups(
    pipeline_id: ColumnElement[Any],
    at: ColumnElement[Any],
    month: ColumnElement[Any],
    span: ColumnElement[Any],
    owners: Any = None,
) -> Any:
    """Rows shaped like deal_rollups' (its keys and measures, several per key) that add up to the
    pipeline's rollups of one bucket (its first `month`, `span` months long; of `owners`, when given) as
    of the moment `at`: today's, less the versions closing in the bucket that began after `at`, plus those
    that ended after it (the ones in force at `at`)."""
    v = deal_versions.c
    in_bucket = and_(
        v.pipeline_id == pipeline_id,
        v.close_date >= month,
        v.close_date < cast(month + func.make_interval(0, span), Date),
        *([(v.owner_id + 0).in_(select(owners))] if owners is not None else []),
    )
    began = select(deal_versions).where(in_bucket, v.valid_from > at).subquery("began")
    ended = (
        select(deal_versions)
        .where(in_bucket, v.valid_to > at, v.valid_to < text("'infinity'"))
        .subquery("ended")
    )
    keys_and_measures = [*rollups.KEYS, *rollups.MEASURES]
    today: Select[Any] = select(*(deal_rollups.c[c] for c in keys_and_measures)).where(
        deal_rollups.c.pipeline_id == pipeline_id, deal_rollups.c.span == span, deal_rollups.c.month == month
    )
    parts: Sequence[Select[Any]] = [
        today,
        rollups.contributions(began, -1),
        rollups.contributions(ended, 1),
    ]
    return union_all(*parts).subquery("as_of_rollups")


def trend_rollups(
    pipeline_id: ColumnElement[Any],
    points: ColumnElement[Any],
    month: ColumnElement[Any],
    span: ColumnElement[Any],
    owners: Any,
) -> Any:
    """As `as_of_rollups`, for several moments at once (`points`, an ascending array): rows shaped like
    deal_rollups' with the moment's number (`point`, from 1) and the moment (`at`), from one pass over the
    versions that changed since the first. A version that began after a moment counts against it, one
    that ended after it for it: each is tagged with how many moments lie before its boundary."""
    v = deal_versions.c
    in_bucket = and_(
        v.pipeline_id == pipeline_id,
        v.close_date >= month,
        v.close_date < cast(month + func.make_interval(0, span), Date),
        (v.owner_id + 0).in_(select(owners)),  # + 0: by the validity indexes, whatever the owners' number
    )
    first = bindparam("first_point", type_=DateTime(timezone=True))  # the earliest of the points
    tiny = text("interval '1 microsecond'")

    def before(boundary: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.width_bucket(boundary - tiny, points).label("k")  # the moments before the boundary

    began = (
        select(deal_versions, before(v.valid_from)).where(in_bucket, v.valid_from > first).subquery("began")
    )
    ended = (
        select(deal_versions, before(v.valid_to))
        .where(in_bucket, v.valid_to > first, v.valid_to < text("'infinity'"))
        .subquery("ended")
    )
    changes = union_all(
        rollups.contributions(began, -1, began.c.k), rollups.contributions(ended, 1, ended.c.k)
    ).subquery("changes")
    # Per owner and currency, what the changes tagged k add up to (k = 0: before every moment, none).
    pair = [changes.c.owner_id, changes.c.currency]
    grouped = (
        select(changes.c.k, *pair, *(func.sum(changes.c[m]).label(m) for m in rollups.MEASURES))
        .where(changes.c.span == span, changes.c.month == month, changes.c.k > 0)
        .group_by(changes.c.k, *pair)
        .cte("grouped")  # read twice: computed once
    )
    r = deal_rollups.c
    today = (
        select(r.owner_id, r.currency, *(r[m] for m in rollups.MEASURES))
        .where(r.pipeline_id == pipeline_id, r.span == span, r.month == month, r.owner_id.in_(select(owners)))
        .subquery("today")
    )
    pairs = union(select(today.c.owner_id, today.c.currency), select(grouped.c.owner_id, grouped.c.currency))
    pairs_ = pairs.subquery("pairs")
    moments = func.unnest(points).table_valued("at", with_ordinality="point").render_derived("moments")
    # Every (moment, owner, currency): today's figures plus the changes after the moment — those tagged
    # with its number or a later one, summed from the last moment down.
    after = (
        moments.join(pairs_, true())
        .outerjoin(
            grouped,
            and_(
                grouped.c.owner_id == pairs_.c.owner_id,
                grouped.c.currency == pairs_.c.currency,
                grouped.c.k == moments.c.point,
            ),
        )
        .outerjoin(today, and_(today.c.owner_id == pairs_.c.owner_id, today.c.currency == pairs_.c.currency))
    )
    by_pair, down = [pairs_.c.owner_id, pairs_.c.currency], moments.c.point.desc()
    return (
        select(
            moments.c.point,
            moments.c.at,
            pairs_.c.owner_id,
            pairs_.c.currency,
            *(
                (
                    func.coalesce(today.c[m], 0)
                    + func.sum(func.coalesce(grouped.c[m], 0)).over(
                        partition_by=by_pair, order_by=down, rows=(None, 0)
                    )
                ).label(m)
                for m in rollups.MEASURES
            ),
        )
        .select_from(after)
        .subquery("trend_rollups")
    )


# The waterfall (docs/domain.md "History"): between moments A < B, per deal of the subject, its value in
# the subject's total at A and at B (0 where it is out of scope: not yet created, closing outside the
# period, its owner not counted in the subject or outside the viewer's reach, or in a category outside the
# total) and the one step its change goes to, first match winning.
_A = bindparam("a", type_=DateTime(timezone=True))
_B = bindparam("b", type_=DateTime(timezone=True))
_PIPELINE = bindparam("pipeline_id", type_=BigInteger)
_START = bindparam("start", type_=Date)
_END = bindparam("end", type_=Date)
_SUBJECT = bindparam("subject_id", type_=BigInteger)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a waterfall: its kind, the exact change of total it accounts for, and its deals."""

    kind: str
    amount: Decimal
    deal_ids: tuple[int, ...]


def subject_owners(team: bool, visible: OwnerFilter) -> Any:
    """The subject's counted users (today's teams) that the viewer may see."""
    u = users.c
    if team:
        closure = team_closure()
        m = team_memberships.c
        query = (
            select(u.id)
            .select_from(
                users.join(team_memberships, and_(m.user_id == u.id, m.is_primary)).join(
                    closure, closure.c.team == m.team_id
                )
            )
            .where(u.sales_seat, closure.c.ancestor == _SUBJECT)
        )
    else:
        query = select(u.id).where(u.id == _SUBJECT, u.sales_seat)
    allowed = visible(u.id)
    return query.where(*([allowed] if allowed is not None else [])).cte("owners")


@dataclass(frozen=True)
class _Side:
    """A deal's version at one end, and what it makes of it."""

    in_period: ColumnElement[bool]
    owned: ColumnElement[bool]
    state: ColumnElement[Any]
    counts: ColumnElement[bool]  # its category is in the total
    native: ColumnElement[Any]  # the forecast amount in the deal's currency (frozen: the company's)
    value: ColumnElement[Any]  # its part of the subject's total


def _side(version: Any, stage: Any, rates: Any, owners: Any, weighted: bool) -> _Side:
    v = version.c
    category = category_of(stage.c.state, stage.c.forecast_category, v.forecast_category)
    chance = probability_of(v.probability, stage.c.probability)
    native = (
        v.amount * case((category == CLOSED_WON, literal(Decimal(1))), else_=chance) if weighted else v.amount
    )
    in_period = and_(v.pipeline_id == _PIPELINE, v.close_date.between(_START, _END))
    owned = v.owner_id.in_(select(owners.c.id))
    counts = category.in_(IN_TOTAL)
    rate = rate_of(v.frozen_rate, v.currency, rates.c.rate)
    value = case((and_(in_period, owned, counts), native * rate), else_=literal(Decimal(0)))
    return _Side(
        func.coalesce(in_period, false()), func.coalesce(owned, false()), stage.c.state, counts, native, value
    )


def waterfall_statement(team: bool, weighted: bool, visible: OwnerFilter) -> Any:
    v = deal_versions.c
    owners = subject_owners(team, visible)
    rates_a, rates_b = (
        rates_on(cast(func.timezone("UTC", _A), Date), "rates_a"),
        rates_on(cast(func.timezone("UTC", _B), Date), "rates_b"),
    )
    # Deals of the subject that changed between A and B: one of their versions in scope began or ended
    # then (a deal that left the scope ended its version in it; one that came in began one). The others
    # in scope have one version valid at both ends.
    in_scope = and_(
        v.pipeline_id == _PIPELINE, v.owner_id.in_(select(owners.c.id)), v.close_date.between(_START, _END)
    )
    changed = (
        select(v.deal_id)
        .where(
            in_scope,
            or_(and_(v.valid_from > _A, v.valid_from <= _B), and_(v.valid_to > _A, v.valid_to <= _B)),
        )
        .distinct()
        .cte("changed")
    )
    steady = deal_versions.alias("steady")
    s = steady.c
    steady_stage = stages.alias("steady_stage")
    steady_a = rates_a.alias("steady_rates_a")
    steady_b = rates_b.alias("steady_rates_b")
    sa_, sb_ = (_side(steady, steady_stage, r, owners, weighted) for r in (steady_a, steady_b))
    steady_part = (
        select(
            s.deal_id,
            case((sa_.value != sb_.value, literal("RATE"))).label("kind"),
            sa_.value.label("value_a"),
            sb_.value.label("value_b"),
        )
        .select_from(
            steady.join(steady_stage, steady_stage.c.id == s.stage_id)
            .outerjoin(steady_a, steady_a.c.currency == s.currency)
            .outerjoin(steady_b, steady_b.c.currency == s.currency)
        )
        .where(
            s.pipeline_id == _PIPELINE,
            s.close_date.between(_START, _END),
            s.owner_id.in_(select(owners.c.id)),
            s.valid_from <= _A,
            s.valid_to > _B,
            s.frozen_rate.is_(None),
            # Only an exchange rate moves such a deal: none at all unless a rate differs between the days.
            s.currency.in_(
                select(rates_a.c.currency)
                .join(rates_b, rates_b.c.currency == rates_a.c.currency)
                .where(rates_a.c.rate != rates_b.c.rate)
            ),
        )
    )
    at_a, at_b = deal_versions.alias("at_a"), deal_versions.alias("at_b")
    stage_a, stage_b = stages.alias("stage_a"), stages.alias("stage_b")
    a = _side(at_a, stage_a, rates_a, owners, weighted)
    b = _side(at_b, stage_b, rates_b, owners, weighted)
    delta = b.value - a.value
    same_currency = at_a.c.currency == at_b.c.currency
    kind = case(
        (at_a.c.deal_id.is_(None), literal("NEW")),
        (and_(~a.in_period, b.in_period), literal("PULLED_IN")),
        (and_(a.in_period, ~b.in_period), literal("PUSHED_OUT")),
        (and_(b.state == WON, a.state != WON), literal("WON")),
        (and_(b.state == LOST, a.state != LOST), literal("LOST")),
        (and_(b.counts, ~a.counts), literal("CATEGORY_IN")),
        (and_(a.counts, ~b.counts), literal("CATEGORY_OUT")),
        (a.owned != b.owned, literal("REASSIGNED")),
        (
            and_(delta != 0, or_(~same_currency, a.native != b.native)),
            case(
                (
                    or_(and_(same_currency, b.native > a.native), and_(~same_currency, delta > 0)),
                    literal("INCREASED"),
                ),
                else_=literal("DECREASED"),
            ),
        ),
        (delta != 0, literal("RATE")),
    )
    changed_part = (
        select(
            changed.c.deal_id,
            kind.label("kind"),
            func.coalesce(a.value, 0).label("value_a"),
            b.value.label("value_b"),
        )
        .select_from(
            changed.outerjoin(
                at_a, and_(at_a.c.deal_id == changed.c.deal_id, at_a.c.valid_from <= _A, at_a.c.valid_to > _A)
            )
            .outerjoin(stage_a, stage_a.c.id == at_a.c.stage_id)
            .outerjoin(rates_a, rates_a.c.currency == at_a.c.currency)
            .join(
                at_b, and_(at_b.c.deal_id == changed.c.deal_id, at_b.c.valid_from <= _B, at_b.c.valid_to > _B)
            )
            .join(stage_b, stage_b.c.id == at_b.c.stage_id)
            .outerjoin(rates_b, rates_b.c.currency == at_b.c.currency)
        )
        .where(or_(and_(a.in_period, a.owned), and_(b.in_period, b.owned)))
    )
    each = union_all(steady_part, changed_part).subquery("each")
    return (
        select(
            each.c.kind,
            func.sum(each.c.value_b - each.c.value_a).label("amount"),
            func.array_agg(aggregate_order_by(each.c.deal_id, each.c.deal_id)).label("deal_ids"),
        )
        .where(each.c.kind.is_not(None))
        .group_by(each.c.kind)
    )


_WATERFALLS: dict[Hashable, Any] = {}


async def waterfall(
    conn: AsyncConnection,
    *,
    team: bool,
    subject_id: int,
    pipeline_id: int,
    period: tuple[date, date],
    moments: tuple[datetime, datetime],
    weighted: bool,
    visible: OwnerScope,
) -> dict[str, Step]:
    """The steps (by kind; kinds that took no deal are absent) of a subject's total between two
    moments, deal by deal, in one statement."""
    shape = (team, weighted, visible.shape)
    statement = _WATERFALLS.get(shape)
    if statement is None:
        statement = _WATERFALLS[shape] = waterfall_statement(team, weighted, visible.predicate)
    values = {
        "subject_id": subject_id,
        "pipeline_id": pipeline_id,
        "start": period[0],
        "end": period[1],
        "a": moments[0],
        "b": moments[1],
        **visible.values,
    }
    rows = await conn.execute(statement, values)
    return {row.kind: Step(row.kind, row.amount, tuple(row.deal_ids)) for row in rows}
