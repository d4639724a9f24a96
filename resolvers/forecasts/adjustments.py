"""Forecast adjustments (docs/domain.md §7): a manager's judgment of a subject's forecast — making one
(forecast:adjust, idempotent with a key, audited; without an amount it clears the one in force) and
reading a subject's, newest first. An adjustment is seen only by those who may make it and by
forecast:view ALL; to anyone else it does not exist."""

from collections.abc import Sequence
from decimal import Decimal

from db.forecasts import Subject
from db.forecasts.entries import ADJUSTMENTS, AdjustmentRecord
from db.pagination import Page, PageRequest, empty_page
from db.periods import Period
from resolvers import validation as check
from resolvers.context import Context
from resolvers.errors import BadUserInput, Forbidden
from resolvers.forecasts import access, entries


async def adjust(
    context: Context,
    subject: Subject,
    pipeline_id: int,
    period: Period,
    amount: Decimal | None,
    note: str,
    key: str | None,
) -> AdjustmentRecord:
    """Store an adjustment (amount None: clear the one in force); a retry with an idempotency key already
    used returns the stored one (CONFLICT when it differs)."""
    values = {"amount": None if amount is None else check.money(amount), "note": check.text(note, "note")}
    if values["note"] is None:
        raise BadUserInput("note must not be empty: an adjustment says why the forecast was re-judged")
    entries.idempotency_key(key)
    await access.existing(context, subject)
    await access.pipeline_and_period(context, pipeline_id, period)
    if subject == Subject.user(context.viewer.id):
        raise Forbidden("nobody adjusts their own forecast: it is adjusted by those above them")
    if not (await access.may_adjust(context, [subject]))[0]:
        raise Forbidden(
            "adjusting that forecast needs the forecast:adjust permission over its subject (a team you "
            "head is adjusted by those above you)"
        )
    return await entries.store(
        context, ADJUSTMENTS, "forecast.adjust", subject, pipeline_id, period, values, key
    )


async def adjustments(
    context: Context, subject: Subject, pipeline_id: int, period: Period | None, page: PageRequest
) -> Page[AdjustmentRecord]:
    """A subject's adjustments the viewer may see: NOT_FOUND outside both forecast:view and the
    adjustments they may see, an empty list where they see the subject's forecast but not its
    adjustments (the subject themselves, a teammate)."""
    await access.existing(context, subject)
    if not (await access.sees_adjustments(context, [subject]))[0]:
        if (
            context.access.grant("forecast", "view").scope == "NONE"
            or not (await access.can_view(context, [subject]))[0]
        ):
            raise access.hidden(subject)
        await access.known_pipeline(context, pipeline_id)
        return empty_page(page)
    return await entries.page_of(context, ADJUSTMENTS, subject, pipeline_id, period, page)


async def adjustment_by_ids(context: Context, ids: Sequence[int]) -> list[AdjustmentRecord | None]:
    """Stored adjustments by id, null where the viewer may not see their subject's."""
    stored = await entries.by_ids(context, ADJUSTMENTS, ids)
    return await access.only_readable(context, ids, stored, access.sees_adjustments)
