"""Stage rollups: the open deals' amounts per (pipeline, close month, owner, currency, stage), kept like the
deal rollups (db/rollups.py) by statement-level triggers in every writer's transaction: the number of
deals and Σ amount, Σ amount², Σ amount³ (in the deal's currency, so an exchange-rate change moves
nothing; a rate r turns them into r·Σa, r²·Σa², r³·Σa³ when read). A prediction (docs/prediction.md)
sums them over a period's months instead of reading the period's deals.

Every open deal is in two buckets, its close month and its fiscal quarter, as in the deal rollups
(`requarter` re-buckets the quarters when the fiscal year's start changes). Only OPEN-stage deals count,
and a stage's state never changes, so a stage's new mapping or probability re-folds nothing (the chance
is applied when read). Keys are upserted in key order, as the deal rollups are.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Date,
    Select,
    SmallInteger,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    text,
    true,
    union_all,
    values,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from db.rollups import (
    FROZEN,
    MONTH_SPAN,
    NO_OWNER,
    QUARTER_SPAN,
    currency_code,
    quarter_of,
    sql_of,
    transition,
)
from db.tables import deals, stage_rollups, stages
from db.vocabulary import OPEN

KEYS = ["pipeline_id", "span", "month", "owner_id", "currency", "stage_id"]
MEASURES = ["deals", "amount", "squares", "cubes"]
TRIGGERS = ("insert", "update", "delete", "truncate")


def contributions(rows: Any, sign: int) -> Select[Any]:
    """What each open deal of `rows` (the deals table or a transition table) adds to its stage rollup row,
    times `sign`."""
    amount = rows.c.amount * func.coalesce(rows.c.frozen_rate, 1)
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
            rows.c.stage_id.label("stage_id"),
            literal(sign).label("deals"),
            (amount * sign).label("amount"),
            (amount * amount * sign).label("squares"),
            (amount * amount * amount * sign).label("cubes"),
        )
        .select_from(rows)
        .join(stages, and_(stages.c.id == rows.c.stage_id, stages.c.state == OPEN))
        .join(spans, true())
    )


def _summed(parts: Sequence[Select[Any]]) -> Select[Any]:
    changes = union_all(*parts).subquery("changes")
    keys = [changes.c[k] for k in KEYS]
    return (
        select(*keys, *(func.sum(changes.c[m]).label(m) for m in MEASURES))
        .group_by(*keys)
        .having(or_(*(func.sum(changes.c[m]) != 0 for m in MEASURES)))
        .order_by(*keys)  # one lock order for every writer
    )


def _upsert(parts: Sequence[Select[Any]]) -> Any:
    upsert = postgresql.insert(stage_rollups).from_select([*KEYS, *MEASURES], _summed(parts))
    return upsert.on_conflict_do_update(
        index_elements=KEYS, set_={m: stage_rollups.c[m] + upsert.excluded[m] for m in MEASURES}
    )


def _trigger_function(name: str, parts: Sequence[tuple[str, int]]) -> str:
    upsert = _upsert([contributions(transition(part), sign) for part, sign in parts])
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  {sql_of(upsert)};
  RETURN NULL;
END
$body$"""


def install_statements() -> list[str]:
    """The trigger functions and triggers that keep the stage rollups (re-runnable)."""
    return [
        _trigger_function("pipecast_stage_rollups_insert", [("new_deals", 1)]),
        _trigger_function("pipecast_stage_rollups_update", [("old_deals", -1), ("new_deals", 1)]),
        _trigger_function("pipecast_stage_rollups_delete", [("old_deals", -1)]),
        """CREATE OR REPLACE FUNCTION pipecast_stage_rollups_truncate() RETURNS trigger LANGUAGE plpgsql
AS $body$
BEGIN
  TRUNCATE stage_rollups;
  RETURN NULL;
END
$body$""",
        *(
            f"DROP TRIGGER IF EXISTS stage_rollups_{t} ON deals"
            for t in ("insert", "update", "delete", "truncate")
        ),
        "CREATE TRIGGER stage_rollups_insert AFTER INSERT ON deals REFERENCING NEW TABLE AS new_deals "
        "FOR EACH STATEMENT EXECUTE FUNCTION pipecast_stage_rollups_insert()",
        "CREATE TRIGGER stage_rollups_update AFTER UPDATE ON deals "
        "REFERENCING OLD TABLE AS old_deals NEW TABLE AS new_deals "
        "FOR EACH STATEMENT EXECUTE FUNCTION pipecast_stage_rollups_update()",
        "CREATE TRIGGER stage_rollups_delete AFTER DELETE ON deals REFERENCING OLD TABLE AS old_deals "
        "FOR EACH STATEMENT EXECUTE FUNCTION pipecast_stage_rollups_delete()",
        "CREATE TRIGGER stage_rollups_truncate AFTER TRUNCATE ON deals "
        "FOR EACH STATEMENT EXECUTE FUNCTION pipecast_stage_rollups_truncate()",
    ]


async def requarter(conn: AsyncConnection) -> None:
    """After a change of the fiscal year's start, in its transaction (deal writes wait, as for
    db.rollups.requarter): every quarter bucket summed again from the month buckets."""
    r = stage_rollups
    await conn.execute(r.delete().where(r.c.span == QUARTER_SPAN))
    quarter = quarter_of(r.c.month)
    keys = [
        r.c.pipeline_id,
        literal(QUARTER_SPAN, SmallInteger),
        quarter,
        r.c.owner_id,
        r.c.currency,
        r.c.stage_id,
    ]
    regrouped = (
        select(*keys, *(func.sum(r.c[m]) for m in MEASURES))
        .where(r.c.span == MONTH_SPAN)
        .group_by(r.c.pipeline_id, quarter, r.c.owner_id, r.c.currency, r.c.stage_id)
    )
    await conn.execute(r.insert().from_select([*KEYS, *MEASURES], regrouped))


def _fresh() -> Select[Any]:
    each = contributions(deals, 1).subquery("contributions")
    keys = [each.c[k] for k in KEYS]
    return select(*keys, *(func.sum(each.c[m]).label(m) for m in MEASURES)).group_by(*keys)


def backfill_statement() -> str:
    """The SQL that fills the stage rollups from the deals."""
    return sql_of(postgresql.insert(stage_rollups).from_select([*KEYS, *MEASURES], _fresh()))


async def rebuild(conn: AsyncConnection) -> int:
    """Install the triggers again and recompute every row from the deals (the caller locks the deals)."""
    for statement in install_statements():
        await conn.execute(text(statement))
    await conn.execute(text("TRUNCATE stage_rollups"))
    result = await conn.execute(text(backfill_statement()))
    return int(result.rowcount or 0)


async def drift(conn: AsyncConnection) -> int:
    """How many stage rollup rows differ from a from-scratch aggregate of the deals (rows left at zero by
    deals that moved away count as absent)."""
    fresh = _fresh().subquery("fresh")
    s = stage_rollups.c
    stored = select(stage_rollups).where(or_(*(s[m] != 0 for m in MEASURES))).subquery("stored")
    joined = stored.join(
        fresh, func.row(*(stored.c[k] for k in KEYS)) == func.row(*(fresh.c[k] for k in KEYS)), full=True
    )
    exact = ["deals", "amount"]
    differs = or_(
        func.row(*(stored.c[m] for m in exact)).is_distinct_from(func.row(*(fresh.c[m] for m in exact))),
        stored.c.deals.is_(None),
        fresh.c.deals.is_(None),
        *(
            func.abs(stored.c[m] - fresh.c[m])
            > 1e-9 * func.greatest(func.abs(stored.c[m]), func.abs(fresh.c[m]), 1)
            for m in ("squares", "cubes")
        ),
    )
    return int(await conn.scalar(select(func.count()).select_from(joined).where(differs)) or 0)
