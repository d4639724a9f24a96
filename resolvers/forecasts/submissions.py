"""Forecast submissions (docs/domain.md): submitting one (forecast:edit, idempotent with a key, audited)
and reading a subject's, newest first."""

from collections.abc import Sequence
from decimal import Decimal

from db.forecasts import Subject
from db.forecasts.entries import SUBMISSIONS, SubmissionRecord
from db.pagination import Page, PageRequest, empty_page
from db.periods import Period
from resolvers import validation as check
from resolvers.context import Context
from resolvers.errors import Forbidden
from resolvers.forecasts import access, entries


async def submit(
    context: Context,
    subject: Subject,
    pipeline_id: int,
    period: Period,
    amount: Decimal,
    note: str | None,
    key: str | None,
) -> SubmissionRecord:
    """Store a submission; a retry with an idempotency key already used returns the stored one (CONFLICT
    when it differs)."""
    values = {"amount": check.money(amount), "note": check.text(note, "note")}
    entries.idempotency_key(key)
    await access.existing(context, subject)
    await access.pipeline_and_period(context, pipeline_id, period)
    if not await access.may(context, "forecast", "edit", subject):
        raise Forbidden("submitting that forecast needs the forecast:edit permission over its subject")
    return await entries.store(
        context, SUBMISSIONS, "forecast.submit", subject, pipeline_id, period, values, key
    )


async def submissions(
    context: Context,
    subject: Subject,
    pipeline_id: int,
    period: Period | None,
    page: PageRequest,
    *,
    hidden_is_missing: bool,
) -> Page[SubmissionRecord]:
    """A subject's submissions, batched over every subject asked in the request.

    Outside forecast:view the subject is NOT_FOUND when asked for directly (`hidden_is_missing`), and
    has no submissions as a nested field; in the team-only view the list is empty."""
    await access.existing(context, subject)
    if not (await access.can_view(context, [subject]))[0]:
        if hidden_is_missing:
            raise access.hidden(subject)
        return empty_page(page)
    if not (await access.is_open(context, [subject]))[0]:
        await access.known_pipeline(context, pipeline_id)
        return empty_page(page)
    return await entries.page_of(context, SUBMISSIONS, subject, pipeline_id, period, page)


async def submission_by_ids(context: Context, ids: Sequence[int]) -> list[SubmissionRecord | None]:
    """Stored submissions by id, null where the viewer may not read their subject's."""
    return await access.only_readable(context, ids, await entries.by_ids(context, SUBMISSIONS, ids))
