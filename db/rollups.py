"""Deal rollups: the forecast's figures kept, per owner, month and everything a number depends on, by
PostgreSQL itself in the transaction of every deal write (DOMAIN.md §5; README "Rollups").

A rollup row sums the deals of one (pipeline, close month, owner, stage, manual category, currency,
frozen rate or not): their count, their amount (in the deal's currency while the rate is open, in the
company currency once it is frozen), and for the weighted amount the part with a probability of its own
(amount × that probability) and the part following the stage (amount). The rules of §2 are applied when
the rollups are read, with the same definitions deal rows use (db.deals): the rate in force today for
open amounts, the stage's state and mapping for the category, the stage's probability for the rest of
the weighted amount. So a change of exchange rate, stage mapping, stage probability or pipeline setting
moves no rollup: it is read through. Only writes to deals move rollups.

Statement-level triggers with transition tables keep them: one grouped upsert per INSERT, UPDATE (of the
columns that matter), DELETE or COPY, whatever its number of rows, in the writer's transaction — a
rolled-back write leaves no trace. Keys are upserted in key order, so concurrent writers lock rollup rows
in one order and cannot deadlock. A row whose deals all moved away stays, at exactly zero (it adds
nothing to any sum; finding and deleting it would cost every write more than it saves); `rebuild`
recomputes all rows from the deals and `drift` compares them with a from-scratch aggregate
(`pipecast rollups`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import deal_rollups, deals

_DIALECT = PGDialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialect classes carry no types
NO_OWNER = 0  # an unassigned deal's owner in the rollup key (keys hold no NULLs)
NO_CATEGORY = ""  # a deal that follows its stage's mapping


def key_of(row: Any) -> dict[str, ColumnElement[Any]]:
    """The rollup key of a deals row (the deals table, or a transition table of the triggers)."""
    return {
        "pipeline_id": row.c.pipeline_id,
        "month": cast(func.date_trunc("month", row.c.close_date), Date),
        "owner_id": func.coalesce(row.c.owner_id, NO_OWNER),
        "stage_id": row.c.stage_id,
        "manual_category": func.coalesce(row.c.forecast_category, NO_CATEGORY),
        "currency": row.c.currency,
        "frozen": row.c.frozen_rate.is_not(None),
    }


def measures_of(row: Any) -> dict[str, ColumnElement[Any]]:
    """What one deal adds to its rollup row: 1 deal, its amount (converted once frozen), and that amount
    split by whether a probability of its own weights it."""
    amount = row.c.amount * func.coalesce(row.c.frozen_rate, 1)
    own = row.c.probability.is_not(None)
    return {
        "deals": literal(1),
        "amount": amount,
        "weighted_own": case((own, amount * row.c.probability), else_=0),
        "amount_by_stage": case((own, 0), else_=amount),
    }


def aggregate(source: Any, sign: int = 1) -> Select[Any]:
    """The rollup rows of the deals in `source`, each measure multiplied by `sign`."""
    key, measures = key_of(source), measures_of(source)
    return (
        select(
            *(column.label(name) for name, column in key.items()),
            *(func.sum(column * sign).label(name) for name, column in measures.items()),
        )
        .select_from(source)
        .group_by(*key.values())
    )


def _sql(statement: Any) -> str:
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True})
    return str(compiled)


def _trigger_function(name: str, parts: Sequence[tuple[str, int]]) -> str:
    """A trigger function folding the transition tables `parts` ((name, sign)) into the rollups."""

    columns = [c.name for c in deals.columns]
    changes = union_all(
        *(aggregate(table(part, *(deals.c[c]._copy() for c in columns)), sign) for part, sign in parts)
    ).subquery("changes")
    key_names = [c.name for c in KEY_COLUMNS]
    measure_names = [c.name for c in MEASURE_COLUMNS]
    folded = (
        select(
            *(changes.c[k] for k in key_names),
            *(func.sum(changes.c[m]).label(m) for m in measure_names),
        )
        .group_by(*(changes.c[k] for k in key_names))
        .having(or_(*(func.sum(changes.c[m]) != 0 for m in measure_names)))  # not a no-op
        .order_by(*(changes.c[k] for k in key_names))  # one lock order for every writer
    )
    upsert = postgresql.insert(deal_rollups).from_select([*key_names, *measure_names], folded)
    upsert = upsert.on_conflict_do_update(
        index_elements=key_names,
        set_={m: deal_rollups.c[m] + upsert.excluded[m] for m in measure_names},
    )
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  {_sql(upsert)};
  RETURN NULL;
END
$body$"""


KEY_COLUMNS = [deal_rollups.c[name] for name in ("pipeline_id", "month", "owner_id", "stage_id",
                                                 "manual_category", "currency", "frozen")]  # fmt: skip
MEASURE_COLUMNS = [deal_rollups.c[name] for name in ("deals", "amount", "weighted_own", "amount_by_stage")]


def install_statements() -> list[str]:
    """The trigger functions and triggers that keep the rollups (re-runnable)."""
    return [
        _trigger_function("pipecast_rollups_insert", [("new_deals", 1)]),
        _trigger_function("pipecast_rollups_update", [("old_deals", -1), ("new_deals", 1)]),
        _trigger_function("pipecast_rollups_delete", [("old_deals", -1)]),
        """CREATE OR REPLACE FUNCTION pipecast_rollups_truncate() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  TRUNCATE deal_rollups;
  RETURN NULL;
END
$body$""",
        "DROP TRIGGER IF EXISTS rollups_insert ON deals",
        "DROP TRIGGER IF EXISTS rollups_update ON deals",
        "DROP TRIGGER IF EXISTS rollups_delete ON deals",
        "DROP TRIGGER IF EXISTS rollups_truncate ON deals",
        "CREATE TRIGGER rollups_insert AFTER INSERT ON deals REFERENCING NEW TABLE AS new_deals "
        "FOR EACH STATEMENT EXECUTE FUNCTION pipecast_rollups_insert()",
        # (PostgreSQL allows no column list beside transition tables: an update of a deal's name folds
        # to nothing, which the HAVING of the upsert drops.)
        "CREATE TRIGGER rollups_update AFTER UPDATE ON deals "
        "REFERENCING OLD TABLE AS old_deals NEW TABLE AS new_deals "
        "FOR EACH STATEMENT EXECUTE FUNCTION pipecast_rollups_update()",
        "CREATE TRIGGER rollups_delete AFTER DELETE ON deals REFERENCING OLD TABLE AS old_deals "
        "FOR EACH STATEMENT EXECUTE FUNCTION pipecast_rollups_delete()",
        "CREATE TRIGGER rollups_truncate AFTER TRUNCATE ON deals "
        "FOR EACH STATEMENT EXECUTE FUNCTION pipecast_rollups_truncate()",
    ]


async def install(conn: AsyncConnection) -> None:
    for statement in install_statements():
        await conn.execute(text(statement))


def backfill_statement() -> str:
    """The SQL that fills the rollups from the deals."""
    names = [c.name for c in (*KEY_COLUMNS, *MEASURE_COLUMNS)]
    return _sql(postgresql.insert(deal_rollups).from_select(names, aggregate(deals)))


async def rebuild(conn: AsyncConnection) -> int:
    """Install the triggers again and recompute every rollup from the deals (writers wait meanwhile);
    returns the number of rollup rows."""
    await conn.execute(text("LOCK TABLE deals IN SHARE ROW EXCLUSIVE MODE"))
    await install(conn)
    await conn.execute(text("TRUNCATE deal_rollups"))
    result = await conn.execute(text(backfill_statement()))
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class Drift:
    """A rollup row that differs from what the deals add up to (None: the row is missing)."""

    key: tuple[Any, ...]
    stored: tuple[int, Decimal, Decimal, Decimal] | None
    expected: tuple[int, Decimal, Decimal, Decimal] | None


async def drift(conn: AsyncConnection) -> list[Drift]:
    """Every rollup row that differs from a from-scratch aggregate of the deals."""
    fresh = aggregate(deals).subquery("fresh")
    names = [c.name for c in KEY_COLUMNS]
    measures = [c.name for c in MEASURE_COLUMNS]
    empty = and_(*(deal_rollups.c[m] == 0 for m in measures))  # left behind by deals that moved away
    stored = select(deal_rollups).where(~empty).subquery("stored")
    joined = stored.join(
        fresh, func.row(*(stored.c[n] for n in names)) == func.row(*(fresh.c[n] for n in names)), full=True
    )
    differs = func.row(*(stored.c[m] for m in measures)).is_distinct_from(
        func.row(*(fresh.c[m] for m in measures))
    )
    query = (
        select(
            *(func.coalesce(stored.c[n], fresh.c[n]).label(n) for n in names),
            *(stored.c[m].label(f"stored_{m}") for m in measures),
            *(fresh.c[m].label(f"expected_{m}") for m in measures),
        )
        .select_from(joined)
        .where(differs)
        .order_by(*names)
    )
    found = []
    for row in await conn.execute(query):
        values = row._mapping
        found.append(
            Drift(
                tuple(values[n] for n in names),
                _measures(values, "stored_", measures),
                _measures(values, "expected_", measures),
            )
        )
    return found


def _measures(values: Any, prefix: str, names: list[str]) -> Any:
    found = tuple(values[prefix + n] for n in names)
    return None if found[0] is None else found


def months(start: date, end: date) -> tuple[date, date]:
    """The rollup months a close-date range covers (periods are whole months)."""
    return start.replace(day=1), end.replace(day=1)
