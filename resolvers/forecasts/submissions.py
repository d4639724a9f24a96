"""Forecast submissions (docs/domain.md): submitting one (forecast:edit, idempotent with a key, audited)
and reading a subject's, newest first."""

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.relay import to_base64

from db.forecasts import Subject
from db.forecasts.submissions import SubmissionRecord, insert_submission, submission_pages, submissions_by_ids
from db.pagination import Page, PageRequest, empty_page
from db.periods import Period
from resolvers import validation as check
from resolvers.common import audit, money_text
from resolvers.context import Context
from resolvers.errors import BadUserInput, Conflict, Forbidden
from resolvers.forecasts import access
from resolvers.forecasts.access import subject_target

MAX_KEY = 200


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
    amount = check.money(amount)
    note = check.text(note, "note")
    if key is not None and not 1 <= len(key) <= MAX_KEY:
        raise BadUserInput(f"idempotencyKey must be 1–{MAX_KEY} characters")
    await access.existing(context, subject)
    await access.pipeline_and_period(context, pipeline_id, period)
    if not await access.may(context, "forecast", "edit", subject):
        raise Forbidden("submitting that forecast needs the forecast:edit permission over its subject")
    async with context.engine.begin() as conn:
        stored, new = await insert_submission(
            conn, subject, pipeline_id, period.key, amount, note, context.viewer.id, key
        )
        if not new:
            asked = (subject, pipeline_id, period.key, amount, note)
            kept = (
                Subject.of(stored.user_id, stored.team_id),
                stored.pipeline_id,
                stored.period,
                stored.amount,
                stored.note,
            )
            if asked != kept:
                raise Conflict("that idempotencyKey was already used for a different submission")
            return stored
        details = {
            "pipeline": to_base64("Pipeline", pipeline_id),
            "period": period.key,
            "amount": money_text(amount),
            "note": note,
        }
        await audit(conn, context, "forecast.submit", subject_target(subject), details)
    return stored


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
    await access.known_pipeline(context, pipeline_id)
    if not (await access.is_open(context, [subject]))[0]:
        return empty_page(page)
    periods = [period.key] if period else None

    async def fetch(conn: AsyncConnection, keys: Sequence[int]) -> dict[int, Page[SubmissionRecord]]:
        return await submission_pages(conn, subject.kind, keys, pipeline_id, periods, page)

    arguments = ("submissions", subject.kind, pipeline_id, period, page)
    found: Page[SubmissionRecord] = await context.loaders.by_arguments(
        arguments, fetch, empty_page(page)
    ).load(subject.id)
    return found


async def submission_by_ids(context: Context, ids: Sequence[int]) -> list[SubmissionRecord | None]:
    """Stored submissions by id, null where the viewer may not read their subject's."""
    async with context.engine.connect() as conn:
        stored = await submissions_by_ids(conn, ids)
    return await access.only_readable(context, ids, stored)
