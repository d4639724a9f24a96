"""Deal rollups: the forecast's figures kept, per owner and period, by PostgreSQL itself in the
transaction of every write that moves them (docs/domain.md; README "Rollups").

A rollup row sums the deals of one (pipeline, period bucket, owner, currency), pivoted by forecast
category: per category the number of deals, their amount and their weighted amount (`deals_pipeline`,
`amount_commit`, …), and the amount of the open-stage ones (`open_amount`). Every deal is in two
buckets, its close month and its fiscal quarter, so a forecast table of either kind of period reads one
bucket per owner and currency (`requarter` re-buckets the quarters when the fiscal year's start
changes). The category and the probability are the deal's own (db.deals.category_of, probability_of:
the stage decides them unless the deal overrides them); the currency is the deal's while its rate is
open — those amounts are converted when read, at the rate in force that day — and none (FROZEN) once the
rate is frozen, the amounts then being in the company currency already. So an exchange-rate change moves
no rollup (it is read through), while a write to a deal, or a change of a stage's category mapping or
probability, re-folds the deals it moves.

Why this shape: a forecast table costs what PostgreSQL's NUMERIC sums over its rollup rows cost, so the
rows a table reads are kept few — one bucket, the categories as columns, the currency a small integer
(`currency_code`), which groups several times faster than text.

Statement-level triggers with transition tables fold each INSERT, UPDATE, DELETE or COPY of deals —
whatever its number of rows — into one grouped upsert, in the writer's transaction: a rolled-back write
leaves no trace. Keys are upserted in key order, so concurrent writers lock rollup rows in one order and
cannot deadlock. A row whose deals all moved away stays, at exactly zero (it adds nothing to any sum;
finding and deleting it would cost every write more than it saves). `rebuild` recomputes every row from
the deals and `drift` compares them with a from-scratch aggregate (`pipecast rollups`).
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    SmallInteger,
    Table,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    table,
    text,
    true,
    union_all,
    values,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.ext.asyncio import AsyncConnection

from db.deals import category_of, probability_of
from db.periods import Period
from db.tables import company_settings, deal_rollups, deals, rollup_measure, stages
from db.vocabulary import FORECAST_CATEGORIES, MONTH, OPEN

_DIALECT = PGDialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialect classes carry no types
NO_OWNER = 0  # an unassigned deal's owner in the rollup key (keys hold no NULLs)
FROZEN = 0  # the currency of amounts whose rate is frozen (they are in the company currency)


def currency_code(currency: ColumnElement[Any]) -> ColumnElement[int]:
    """An ISO currency code (three letters A–Z, as the tables check) as a number 1…19682: its letters in
    base 27. 0 is FROZEN."""
    a, b, c = (func.ascii(func.substr(currency, n, 1)) - 64 for n in (1, 2, 3))
    return cast(a * 729 + b * 27 + c, SmallInteger)


def currency_of_code(code: int) -> str:
    """The ISO code of a currency_code number ('' for FROZEN)."""
    if code == FROZEN:
        return ""
    return "".join(chr(64 + code // 27**n % 27) for n in (2, 1, 0))


MONTH_SPAN, QUARTER_SPAN = 1, 3  # a bucket's length in months: a calendar month, or a fiscal quarter
KEYS = ["pipeline_id", "span", "month", "owner_id", "currency"]
KEY_COLUMNS = [deal_rollups.c[n] for n in KEYS]
MEASURES = [c.name for c in deal_rollups.columns if c.name not in KEYS]


# The first month of the company's fiscal year (the quarter buckets follow it; `requarter` re-buckets them
# when it changes).
fiscal_start = select(company_settings.c.fiscal_year_start_month).scalar_subquery()


def quarter_of(month: ColumnElement[Any]) -> ColumnElement[Any]:
    """The first month of the fiscal quarter a month (its first day) is in."""
    into_quarter = func.mod(func.extract("month", month).cast(Integer) - fiscal_start + 12, 3)
    return cast(month - func.make_interval(0, into_quarter), Date)


def contributions(rows: Any, sign: int, *extra: ColumnElement[Any]) -> Select[Any]:
    """What each deal of `rows` (the deals table, a transition table of the triggers, or deal versions)
    adds to its two rollup rows — its close month's and its fiscal quarter's — times `sign`: the key, and
    in its category's columns 1 deal, its amount (converted once frozen) and its weighted amount; its
    amount again in `open_amount` while its stage is open. `extra`: more columns of `rows` to carry."""
    stage = stages.alias("stage")
    amount = rows.c.amount * func.coalesce(rows.c.frozen_rate, 1) * sign
    weighted = amount * probability_of(rows.c.probability, stage.c.probability)
    category = category_of(stage.c.state, stage.c.forecast_category, rows.c.forecast_category)
    zero = literal(0)
    measures = []
    for name in FORECAST_CATEGORIES:
        mine = category == name
        measures += [
            case((mine, literal(sign)), else_=zero).label(rollup_measure("deals", name)),
            case((mine, amount), else_=zero).label(rollup_measure("amount", name)),
            case((mine, weighted), else_=zero).label(rollup_measure("weighted", name)),
        ]
    measures.append(case((stage.c.state == OPEN, amount), else_=zero).label("open_amount"))
    return bucketed(rows, stage, stage.c.id == rows.c.stage_id, *measures, *extra)


def bucketed(
    rows: Any, stage: Any, stage_of_row: ColumnElement[bool], *columns: ColumnElement[Any]
) -> Select[Any]:
    """Each row of `rows` (deals, a transition table, deal versions) joined to its stage, twice — in its
    close month's bucket and in its fiscal quarter's — keyed by pipeline, span, month, owner (NO_OWNER for
    none) and currency (FROZEN once its rate is frozen), with `columns` beside the key: what both kinds of
    rollup (these and db.stage_rollups) add up."""
    spans = values(column("span", SmallInteger), name="spans").data([(MONTH_SPAN,), (QUARTER_SPAN,)])
    month = cast(func.date_trunc("month", rows.c.close_date), Date)
    return (
        select(
            rows.c.pipeline_id.label("pipeline_id"),
            spans.c.span.label("span"),
            case((spans.c.span == MONTH_SPAN, month), else_=quarter_of(month)).label("month"),
            func.coalesce(rows.c.owner_id, NO_OWNER).label("owner_id"),
            case(
                (rows.c.frozen_rate.is_not(None), literal(FROZEN)), else_=currency_code(rows.c.currency)
            ).label("currency"),
            *columns,
        )
        .select_from(rows)
        .join(stage, stage_of_row)
        .join(spans, true())
    )


def sql_of(statement: Any) -> str:
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True})
    return str(compiled)


def transition(name: str) -> Any:
    return table(name, *(c._copy() for c in deals.columns))


@dataclass(frozen=True)
class Kept:
    """A table of sums kept by statement-level triggers on deals (the deal rollups here, the stage rollups
    of db/stage_rollups.py): its trigger names' stem, the table, its key and measure columns, and what a
    deal row (of `deals`, a transition table, or versions) adds to it times a sign. One definition of
    how such a table is folded, installed, filled and compared with the deals."""

    name: str
    table: Table
    keys: Sequence[str]
    measures: Sequence[str]
    contributions: Callable[[Any, int], Select[Any]]

    def folded(self, parts: Sequence[Select[Any]]) -> Select[Any]:
        """Contributions summed per key, without the keys they leave unchanged, in key order."""
        changes = union_all(*parts).subquery("changes")
        keys = [changes.c[k] for k in self.keys]
        return (
            select(*keys, *(func.sum(changes.c[m]).label(m) for m in self.measures))
            .group_by(*keys)
            .having(or_(*(func.sum(changes.c[m]) != 0 for m in self.measures)))
            .order_by(*keys)  # one lock order for every writer
        )

    def upsert(self, parts: Sequence[Select[Any]]) -> Any:
        upsert = postgresql.insert(self.table).from_select([*self.keys, *self.measures], self.folded(parts))
        return upsert.on_conflict_do_update(
            index_elements=list(self.keys),
            set_={m: self.table.c[m] + upsert.excluded[m] for m in self.measures},
        )

    def _trigger_function(self, action: str, parts: Sequence[tuple[str, int]]) -> str:
        """The trigger function of one action, folding the transition tables `parts` ((name, sign))."""
        upsert = self.upsert([self.contributions(transition(part), sign) for part, sign in parts])
        return f"""CREATE OR REPLACE FUNCTION pipecast_{self.name}_{action}() RETURNS trigger LANGUAGE plpgsql
AS $body$
BEGIN
  {sql_of(upsert)};
  RETURN NULL;
END
$body$"""

    def install_statements(self) -> list[str]:
        """The trigger functions and triggers that keep the table (re-runnable)."""
        name = self.name
        return [
            self._trigger_function("insert", [("new_deals", 1)]),
            self._trigger_function("update", [("old_deals", -1), ("new_deals", 1)]),
            self._trigger_function("delete", [("old_deals", -1)]),
            f"""CREATE OR REPLACE FUNCTION pipecast_{name}_truncate() RETURNS trigger LANGUAGE plpgsql
AS $body$
BEGIN
  TRUNCATE {self.table.name};
  RETURN NULL;
END
$body$""",
            *(f"DROP TRIGGER IF EXISTS {name}_{action} ON deals" for action in TRIGGER_ACTIONS),
            f"CREATE TRIGGER {name}_insert AFTER INSERT ON deals REFERENCING NEW TABLE AS new_deals "
            f"FOR EACH STATEMENT EXECUTE FUNCTION pipecast_{name}_insert()",
            # PostgreSQL allows no column list beside transition tables: an update of a deal's name folds
            # to nothing, which the upsert's HAVING drops.
            f"CREATE TRIGGER {name}_update AFTER UPDATE ON deals "
            "REFERENCING OLD TABLE AS old_deals NEW TABLE AS new_deals "
            f"FOR EACH STATEMENT EXECUTE FUNCTION pipecast_{name}_update()",
            f"CREATE TRIGGER {name}_delete AFTER DELETE ON deals REFERENCING OLD TABLE AS old_deals "
            f"FOR EACH STATEMENT EXECUTE FUNCTION pipecast_{name}_delete()",
            f"CREATE TRIGGER {name}_truncate AFTER TRUNCATE ON deals "
            f"FOR EACH STATEMENT EXECUTE FUNCTION pipecast_{name}_truncate()",
        ]

    def fresh(self) -> Select[Any]:
        """The table's rows from scratch: every deal's contributions summed per key."""
        each = self.contributions(deals, 1).subquery("contributions")
        keys = [each.c[k] for k in self.keys]
        return select(*keys, *(func.sum(each.c[m]).label(m) for m in self.measures)).group_by(*keys)

    def backfill_statement(self) -> str:
        """The SQL that fills the table from the deals."""
        return sql_of(postgresql.insert(self.table).from_select([*self.keys, *self.measures], self.fresh()))

    async def requarter(self, conn: AsyncConnection) -> None:
        """Every quarter bucket summed again from the month buckets, by the fiscal year's quarters now
        (the caller holds the deals, as `requarter` does)."""
        r = self.table
        await conn.execute(r.delete().where(r.c.span == QUARTER_SPAN))
        quarter = quarter_of(r.c.month)
        by_quarter = {"span": literal(QUARTER_SPAN, SmallInteger), "month": quarter}
        grouped = [quarter if k == "month" else r.c[k] for k in self.keys if k != "span"]
        regrouped = (
            select(
                *(by_quarter.get(k, r.c[k]) for k in self.keys), *(func.sum(r.c[m]) for m in self.measures)
            )
            .where(r.c.span == MONTH_SPAN)
            .group_by(*grouped)
        )
        await conn.execute(r.insert().from_select([*self.keys, *self.measures], regrouped))

    async def rebuild(self, conn: AsyncConnection) -> int:
        """Install the triggers again and recompute every row from the deals (the caller holds the
        deals); returns the number of rows."""
        for statement in self.install_statements():
            await conn.execute(text(statement))
        await conn.execute(text(f"TRUNCATE {self.table.name}"))
        result = await conn.execute(text(self.backfill_statement()))
        return int(result.rowcount or 0)

    def differences(self) -> Select[Any]:
        """The rows that differ from a from-scratch aggregate of the deals (rows left at zero by deals
        that moved away count as absent): each key, whether it is stored and expected, and the measures
        stored (`stored_m`) and expected (`expected_m`), in key order."""
        fresh = self.fresh().subquery("fresh")
        empty = and_(*(self.table.c[m] == 0 for m in self.measures))
        stored = select(self.table).where(~empty).subquery("stored")
        same_key = func.row(*(stored.c[k] for k in self.keys)) == func.row(*(fresh.c[k] for k in self.keys))
        differs = func.row(*(stored.c[m] for m in self.measures)).is_distinct_from(
            func.row(*(fresh.c[m] for m in self.measures))
        )
        return (
            select(
                *(func.coalesce(stored.c[k], fresh.c[k]).label(k) for k in self.keys),
                stored.c.month.is_not(None).label("is_stored"),
                fresh.c.month.is_not(None).label("is_expected"),
                *(stored.c[m].label(f"stored_{m}") for m in self.measures),
                *(fresh.c[m].label(f"expected_{m}") for m in self.measures),
            )
            .select_from(stored.join(fresh, same_key, full=True))
            .where(differs)
            .order_by(*self.keys)
        )


TRIGGER_ACTIONS = ("insert", "update", "delete", "truncate")
DEAL_ROLLUPS = Kept("rollups", deal_rollups, KEYS, MEASURES, contributions)


def install_statements() -> list[str]:
    """The trigger functions and triggers that keep the deal rollups (re-runnable)."""
    return DEAL_ROLLUPS.install_statements()


async def install(conn: AsyncConnection) -> None:
    for statement in install_statements():
        await conn.execute(text(statement))


async def _fold_stage(conn: AsyncConnection, stage_id: int, sign: int) -> None:
    """Fold the deals of one stage in (sign 1) or out (-1), with the stage as it is now."""
    await conn.execute(DEAL_ROLLUPS.upsert([contributions(deals, sign).where(deals.c.stage_id == stage_id)]))


async def restage(conn: AsyncConnection, stage_id: int, change: Callable[[], Awaitable[None]]) -> None:
    """Change a stage's category mapping or probability (`change`) with its deals' rollups: out as they
    were, in as they are then. Deal writes wait meanwhile, so none folds in with the other mapping."""
    await conn.execute(text("LOCK TABLE deals IN SHARE ROW EXCLUSIVE MODE"))
    await _fold_stage(conn, stage_id, -1)
    await change()
    await _fold_stage(conn, stage_id, 1)


async def requarter(conn: AsyncConnection) -> None:
    """After a change of the fiscal year's start, in its transaction: every quarter bucket summed again
    from the month buckets, by the new quarters. Deal writes wait until the change commits; those that
    folded in before the lock by the old quarters are summed again with the rest."""
    await conn.execute(text("LOCK TABLE deals IN SHARE ROW EXCLUSIVE MODE"))
    await DEAL_ROLLUPS.requarter(conn)


def backfill_statement() -> str:
    """The SQL that fills the deal rollups from the deals."""
    return DEAL_ROLLUPS.backfill_statement()


async def rebuild(conn: AsyncConnection) -> int:
    """Install the triggers again and recompute every rollup from the deals (writers wait meanwhile);
    returns the number of rollup rows."""
    await conn.execute(text("LOCK TABLE deals, stages IN SHARE ROW EXCLUSIVE MODE"))
    return await DEAL_ROLLUPS.rebuild(conn)


@dataclass(frozen=True, slots=True)
class Drift:
    """A rollup row that differs from what the deals add up to (None: the row is missing)."""

    key: tuple[Any, ...]
    stored: dict[str, Any] | None
    expected: dict[str, Any] | None

    def described(self) -> str:
        """The key and the figures that differ, in words."""
        pipeline, span, month, owner, currency = self.key
        bucket = f"{month:%Y-%m}" if span == MONTH_SPAN else f"the quarter from {month:%Y-%m}"
        currency_name = currency_of_code(currency) or "frozen"
        where = f"pipeline {pipeline}, {bucket}, owner {owner or 'none'}, {currency_name}"
        if self.stored is None or self.expected is None:
            return f"{where}: {'missing' if self.stored is None else 'no deals add up to it'}"
        differing = [m for m in MEASURES if self.stored[m] != self.expected[m]]
        return f"{where}: " + ", ".join(
            f"{m} stored {self.stored[m]}, the deals add up to {self.expected[m]}" for m in differing
        )


async def drift(conn: AsyncConnection) -> list[Drift]:
    """Every rollup row that differs from a from-scratch aggregate of the deals."""
    query = DEAL_ROLLUPS.differences()
    found = []
    for row in await conn.execute(query):
        values = row._mapping
        found.append(
            Drift(
                tuple(values[k] for k in KEYS),
                {m: values[f"stored_{m}"] for m in MEASURES} if values["is_stored"] else None,
                {m: values[f"expected_{m}"] for m in MEASURES} if values["is_expected"] else None,
            )
        )
    return found


def bucket(period: Period, fiscal_start_month: int) -> tuple[int, date]:
    """The rollup bucket of a forecast period: its span and first month."""
    return (MONTH_SPAN if period.kind == MONTH else QUARTER_SPAN), period.start(fiscal_start_month)
