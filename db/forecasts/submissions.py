"""Forecast submissions: append-only, the latest for a subject, pipeline and period in force."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.forecasts import Subject
from db.pagination import Ordering, Page, PageRequest, fetch_pages
from db.records import columns_of, record_of
from db.sql import among
from db.tables import forecast_submissions
from db.vocabulary import SubjectKind


@dataclass(frozen=True, slots=True)
class SubmissionRecord:
    id: int
    user_id: int | None
    team_id: int | None
    pipeline_id: int
    period: str
    amount: Decimal
    note: str | None
    submitted_by: int
    submitted_at: datetime
    idempotency_key: str | None


SUBMISSION_COLUMNS = columns_of(SubmissionRecord, forecast_submissions)
SUBMISSION_ORDER = Ordering("submissions.NEWEST_FIRST", (forecast_submissions.c.id,), descending=True)


async def insert_submission(
    conn: AsyncConnection,
    subject: Subject,
    pipeline_id: int,
    period: str,
    amount: Decimal,
    note: str | None,
    submitted_by: int,
    idempotency_key: str | None,
) -> tuple[SubmissionRecord, bool]:
    """The stored submission and whether it is new (False: a retry with a key already used)."""
    values = {subject.column: subject.id, "pipeline_id": pipeline_id, "period": period, "amount": amount,
              "note": note, "submitted_by": submitted_by, "idempotency_key": idempotency_key,
              "submitted_at": func.clock_timestamp()}  # fmt: skip
    stmt = (
        pg_insert(forecast_submissions)
        .values(values)
        .on_conflict_do_nothing(
            index_elements=[forecast_submissions.c.submitted_by, forecast_submissions.c.idempotency_key]
        )
    )
    row = (await conn.execute(stmt.returning(*SUBMISSION_COLUMNS.values()))).first()
    if row is not None:
        return record_of(SubmissionRecord, row), True
    existing = await conn.execute(
        select(*SUBMISSION_COLUMNS.values()).where(
            forecast_submissions.c.submitted_by == submitted_by,
            forecast_submissions.c.idempotency_key == idempotency_key,
        )
    )
    return record_of(SubmissionRecord, existing.one()), False


async def submission_pages(
    conn: AsyncConnection,
    kind: SubjectKind,
    subject_ids: Sequence[int],
    pipeline_id: int,
    periods: Sequence[str] | None,
    page: PageRequest,
) -> dict[int, Page[SubmissionRecord]]:
    """Each subject's submissions in the pipeline (optionally of some periods), newest first."""
    column = forecast_submissions.c[f"{kind}_id"]

    def build(parent: ColumnElement[Any]) -> tuple[Select[Any], Ordering]:
        query = select(*SUBMISSION_COLUMNS.values()).where(
            column == parent, forecast_submissions.c.pipeline_id == pipeline_id
        )
        if periods is not None:
            query = query.where(forecast_submissions.c.period.in_(list(periods)))
        return query, SUBMISSION_ORDER

    return await fetch_pages(conn, subject_ids, build, page, lambda row: record_of(SubmissionRecord, row))


async def submissions_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, SubmissionRecord]:
    rows = await conn.execute(
        select(*SUBMISSION_COLUMNS.values()).where(among(forecast_submissions.c.id, ids))
    )
    return {row.id: record_of(SubmissionRecord, row) for row in rows}
