"""Deal rollups: the forecast's figures kept, per owner and close month, by PostgreSQL itself in the
transaction of every write that moves them (DOMAIN.md §5; README "Rollups").

A rollup row sums the deals of one (pipeline, close month, owner, forecast category, stage state,
currency): their count, their amount and their weighted amount. The category and the probability are
the deal's own (db.deals.category_of, probability_of: the stage decides them unless the deal overrides
them); the currency is the deal's while its rate is open — those amounts are converted when read, at
the rate in force that day — and none ('') once the rate is frozen, the amounts then being in the
company currency already. So an exchange-rate change moves no rollup (it is read through), while a
write to a deal, or a change of a stage's category mapping or probability, re-folds the deals it moves.

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
from decimal import Decimal
from typing import Any

from sqlalchemy import (
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

from db.deals import category_of, probability_of
from db.tables import deal_rollups, deals, stages

_DIALECT = PGDialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialect classes carry no types
NO_OWNER = 0  # an unassigned deal's owner in the rollup key (keys hold no NULLs)
FROZEN = ""  # the currency of amounts whose rate is frozen (they are in the company currency)

KEY_COLUMNS = [
    deal_rollups.c[n] for n in ("pipeline_id", "month", "owner_id", "category", "state", "currency")
]
MEASURE_COLUMNS = [deal_rollups.c[n] for n in ("deals", "amount", "weighted")]
KEYS = [c.name for c in KEY_COLUMNS]
MEASURES = [c.name for c in MEASURE_COLUMNS]


def _contributions(rows: Any, sign: int) -> Select[Any]:
    """What each deal of `rows` (the deals table, or a transition table of the triggers) adds to its
    rollup row, times `sign`: its key, 1 deal, its amount (converted once frozen) and weighted amount."""
    stage = stages.alias("stage")
    amount = rows.c.amount * func.coalesce(rows.c.frozen_rate, 1)
    probability = probability_of(rows.c.probability, stage.c.probability)
    return (
        select(
            rows.c.pipeline_id.label("pipeline_id"),
            cast(func.date_trunc("month", rows.c.close_date), Date).label("month"),
            func.coalesce(rows.c.owner_id, NO_OWNER).label("owner_id"),
            category_of(stage.c.state, stage.c.forecast_category, rows.c.forecast_category).label("category"),
            stage.c.state.label("state"),
            case((rows.c.frozen_rate.is_not(None), literal(FROZEN)), else_=rows.c.currency).label("currency"),
            literal(sign).label("deals"),
            (amount * sign).label("amount"),
            (amount * probability * sign).label("weighted"),
        )
        .select_from(rows)
        .join(stage, stage.c.id == rows.c.stage_id)
    )


def folded(parts: Sequence[Select[Any]]) -> Select[Any]:
    """Contributions summed per rollup key, without the keys they leave unchanged, in key order."""
    changes = union_all(*parts).subquery("changes")
    return (
        select(
            *(changes.c[k] for k in KEYS),
            *(func.sum(changes.c[m]).label(m) for m in MEASURES),
        )
        .group_by(*(changes.c[k] for k in KEYS))
        .having(or_(*(func.sum(changes.c[m]) != 0 for m in MEASURES)))
        .order_by(*(changes.c[k] for k in KEYS))  # one lock order for every writer
    )


def _upsert(parts: Sequence[Select[Any]]) -> Any:
    upsert = postgresql.insert(deal_rollups).from_select([*KEYS, *MEASURES], folded(parts))
    return upsert.on_conflict_do_update(
        index_elements=KEYS, set_={m: deal_rollups.c[m] + upsert.excluded[m] for m in MEASURES}
    )


def _sql(statement: Any) -> str:
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True})
    return str(compiled)


def _transition(name: str) -> Any:
    return table(name, *(column._copy() for column in deals.columns))


def _trigger_function(name: str, parts: Sequence[tuple[str, int]]) -> str:
    """A trigger function folding the transition tables `parts` ((name, sign)) into the rollups."""
    upsert = _upsert([_contributions(_transition(part), sign) for part, sign in parts])
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  {_sql(upsert)};
  RETURN NULL;
END
$body$"""


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
        # PostgreSQL allows no column list beside transition tables: an update of a deal's name folds to
        # nothing, which the upsert's HAVING drops.
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


async def _fold_stage(conn: AsyncConnection, stage_id: int, sign: int) -> None:
    """Fold the deals of one stage in (sign 1) or out (-1), with the stage as it is now."""
    await conn.execute(_upsert([_contributions(deals, sign).where(deals.c.stage_id == stage_id)]))


async def restage(conn: AsyncConnection, stage_id: int, change: Callable[[], Awaitable[None]]) -> None:
    """Change a stage's category mapping or probability (`change`) with its deals' rollups: out as they
    were, in as they are then. Deal writes wait meanwhile, so none folds in with the other mapping."""
    await conn.execute(text("LOCK TABLE deals IN SHARE ROW EXCLUSIVE MODE"))
    await _fold_stage(conn, stage_id, -1)
    await change()
    await _fold_stage(conn, stage_id, 1)


def backfill_statement() -> str:
    """The SQL that fills the rollups from the deals."""
    return _sql(postgresql.insert(deal_rollups).from_select([*KEYS, *MEASURES], _fresh()))


def _fresh() -> Select[Any]:
    contributions = _contributions(deals, 1).subquery("contributions")
    return select(
        *(contributions.c[k] for k in KEYS),
        *(func.sum(contributions.c[m]).label(m) for m in MEASURES),
    ).group_by(*(contributions.c[k] for k in KEYS))


async def rebuild(conn: AsyncConnection) -> int:
    """Install the triggers again and recompute every rollup from the deals (writers wait meanwhile);
    returns the number of rollup rows."""
    await conn.execute(text("LOCK TABLE deals, stages IN SHARE ROW EXCLUSIVE MODE"))
    await install(conn)
    await conn.execute(text("TRUNCATE deal_rollups"))
    result = await conn.execute(text(backfill_statement()))
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class Drift:
    """A rollup row that differs from what the deals add up to (None: the row is missing)."""

    key: tuple[Any, ...]
    stored: tuple[int, Decimal, Decimal] | None
    expected: tuple[int, Decimal, Decimal] | None


async def drift(conn: AsyncConnection) -> list[Drift]:
    """Every rollup row that differs from a from-scratch aggregate of the deals."""
    fresh = _fresh().subquery("fresh")
    empty = and_(*(deal_rollups.c[m] == 0 for m in MEASURES))  # left behind by deals that moved away
    stored = select(deal_rollups).where(~empty).subquery("stored")
    joined = stored.join(
        fresh, func.row(*(stored.c[k] for k in KEYS)) == func.row(*(fresh.c[k] for k in KEYS)), full=True
    )
    differs = func.row(*(stored.c[m] for m in MEASURES)).is_distinct_from(
        func.row(*(fresh.c[m] for m in MEASURES))
    )
    query = (
        select(
            *(func.coalesce(stored.c[k], fresh.c[k]).label(k) for k in KEYS),
            *(stored.c[m].label(f"stored_{m}") for m in MEASURES),
            *(fresh.c[m].label(f"expected_{m}") for m in MEASURES),
        )
        .select_from(joined)
        .where(differs)
        .order_by(*KEYS)
    )
    found = []
    for row in await conn.execute(query):
        values = row._mapping
        found.append(
            Drift(
                tuple(values[k] for k in KEYS),
                _measures(values, "stored_"),
                _measures(values, "expected_"),
            )
        )
    return found


def _measures(values: Any, prefix: str) -> Any:
    found = tuple(values[prefix + m] for m in MEASURES)
    return None if found[0] is None else found


def months(start: date, end: date) -> tuple[date, date]:
    """The rollup months a close-date range covers (periods are whole months)."""
    return start.replace(day=1), end.replace(day=1)
