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

from typing import Any

from sqlalchemy import (
    Select,
    and_,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from db.rollups import Kept, bucketed
from db.tables import stage_rollups, stages
from db.vocabulary import OPEN

KEYS = ["pipeline_id", "span", "month", "owner_id", "currency", "stage_id"]
MEASURES = ["deals", "amount", "squares", "cubes"]


def contributions(rows: Any, sign: int) -> Select[Any]:
    """What each open deal of `rows` (the deals table or a transition table) adds to its stage rollup row,
    times `sign`."""
    amount = rows.c.amount * func.coalesce(rows.c.frozen_rate, 1)
    return bucketed(
        rows,
        stages,
        and_(stages.c.id == rows.c.stage_id, stages.c.state == OPEN),
        rows.c.stage_id.label("stage_id"),
        literal(sign).label("deals"),
        (amount * sign).label("amount"),
        (amount * amount * sign).label("squares"),
        (amount * amount * amount * sign).label("cubes"),
    )


KEPT = Kept("stage_rollups", stage_rollups, KEYS, MEASURES, contributions)


def install_statements() -> list[str]:
    """The trigger functions and triggers that keep the stage rollups (re-runnable)."""
    return KEPT.install_statements()


def backfill_statement() -> str:
    """The SQL that fills the stage rollups from the deals."""
    return KEPT.backfill_statement()


async def requarter(conn: AsyncConnection) -> None:
    """After a change of the fiscal year's start, in its transaction (deal writes wait, as for
    db.rollups.requarter): every quarter bucket summed again from the month buckets."""
    await KEPT.requarter(conn)


async def rebuild(conn: AsyncConnection) -> int:
    """Install the triggers again and recompute every row from the deals (the caller holds the deals)."""
    return await KEPT.rebuild(conn)


async def drift(conn: AsyncConnection) -> int:
    """How many stage rollup rows differ from a from-scratch aggregate of the deals."""
    differing = KEPT.differences().subquery("differing")
    return int(await conn.scalar(select(func.count()).select_from(differing)) or 0)
