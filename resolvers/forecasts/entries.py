"""What submissions and adjustments share (db/forecasts/entries.py): storing one — idempotent with a
client's key, audited in the same transaction — and reading a subject's, newest first, batched over
every subject a request asks for."""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.relay import to_base64

from db.forecasts import Subject
from db.forecasts.entries import EntryLog
from db.pagination import Page, PageRequest, empty_page
from db.periods import Period
from resolvers.common import audit, money_text
from resolvers.context import Context
from resolvers.errors import BadUserInput, Conflict
from resolvers.forecasts import access
from resolvers.forecasts.access import subject_target

R = TypeVar("R")
MAX_KEY = 200


def idempotency_key(key: str | None) -> str | None:
    if key is not None and not 1 <= len(key) <= MAX_KEY:
        raise BadUserInput(f"idempotencyKey must be 1–{MAX_KEY} characters")
    return key


async def store(
    context: Context,
    log: EntryLog[R],
    action: str,
    subject: Subject,
    pipeline_id: int,
    period: Period,
    values: dict[str, Any],
    key: str | None,
) -> R:
    """Store an entry of `log` (values: its own fields, checked) with its audit entry; a retry with an
    idempotency key the viewer already used returns the stored one (CONFLICT when it differs)."""
    async with context.engine.begin() as conn:
        where = {"pipeline_id": pipeline_id, "period": period.key}
        stored, new = await log.insert(conn, subject, context.viewer.id, key, where | values)
        if not new:
            kept: Any = stored
            same = Subject.of(kept.user_id, kept.team_id) == subject and all(
                getattr(kept, name) == value for name, value in (where | values).items()
            )
            if not same:
                raise Conflict(f"that idempotencyKey was already used for a different {log.noun}")
            return stored
        details = {"pipeline": to_base64("Pipeline", pipeline_id), "period": period.key}
        details |= {k: money_text(v) if isinstance(v, Decimal) else v for k, v in values.items()}
        await audit(conn, context, action, subject_target(subject), details)
    return stored


async def page_of(
    context: Context,
    log: EntryLog[R],
    subject: Subject,
    pipeline_id: int,
    period: Period | None,
    page: PageRequest,
) -> Page[R]:
    """The subject's entries of `log` (the caller has checked the viewer may read them)."""
    await access.known_pipeline(context, pipeline_id)
    periods = [period.key] if period else None

    async def fetch(conn: AsyncConnection, keys: Sequence[int]) -> dict[int, Page[R]]:
        return await log.pages(conn, subject.kind, keys, pipeline_id, periods, page)

    arguments = (log.name, subject.kind, pipeline_id, period, page)
    found: Page[R] = await context.loaders.by_arguments(arguments, fetch, empty_page(page)).load(subject.id)
    return found


async def by_ids(context: Context, log: EntryLog[R], ids: Sequence[int]) -> dict[int, R]:
    async with context.engine.connect() as conn:
        return await log.by_ids(conn, ids)
