"""Append-only logs of a subject's forecast entries — submissions and adjustments: the latest for a
subject, pipeline and period is in force, every one is kept, and a retry with an idempotency key already
used by the same author is stored once."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.forecasts import Subject
from db.pagination import Ordering, Page, PageRequest, fetch_pages
from db.records import columns_of, record_of
from db.sql import among
from db.tables import forecast_adjustments, forecast_submissions
from db.vocabulary import SubjectKind

R = TypeVar("R")


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


@dataclass(frozen=True, slots=True)
class AdjustmentRecord:
    id: int
    user_id: int | None
    team_id: int | None
    pipeline_id: int
    period: str
    amount: Decimal | None  # None: this entry clears the adjustment in force
    note: str
    adjusted_by: int
    adjusted_at: datetime
    idempotency_key: str | None


@dataclass(frozen=True)
class EntryLog(Generic[R]):
    """One log: its table, its record, and the columns naming its author and time."""

    name: str  # of the list, in its cursors
    noun: str  # of one entry, in messages
    table: Table
    record: type[R]
    author: str
    stamp: str
    columns: dict[str, ColumnElement[Any]] = field(init=False)
    order: Ordering = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", columns_of(self.record, self.table))
        order = Ordering(f"{self.name}.NEWEST_FIRST", (self.table.c.id,), descending=True)
        object.__setattr__(self, "order", order)

    def _record(self, row: Any) -> R:
        return record_of(self.record, row)

    async def insert(
        self, conn: AsyncConnection, subject: Subject, author: int, key: str | None, values: dict[str, Any]
    ) -> tuple[R, bool]:
        """The stored entry and whether it is new (False: a retry with a key this author already used)."""
        t = self.table
        row_values = values | {subject.column: subject.id, self.author: author, "idempotency_key": key,
                               self.stamp: func.clock_timestamp()}  # fmt: skip
        stmt = (
            pg_insert(t)
            .values(row_values)
            .on_conflict_do_nothing(index_elements=[t.c[self.author], t.c.idempotency_key])
        )
        row = (await conn.execute(stmt.returning(*self.columns.values()))).first()
        if row is not None:
            return self._record(row), True
        kept = select(*self.columns.values()).where(t.c[self.author] == author, t.c.idempotency_key == key)
        return self._record((await conn.execute(kept)).one()), False

    async def pages(
        self,
        conn: AsyncConnection,
        kind: SubjectKind,
        subject_ids: Sequence[int],
        pipeline_id: int,
        periods: Sequence[str] | None,
        page: PageRequest,
    ) -> dict[int, Page[R]]:
        """Each subject's entries in the pipeline (optionally of some periods), newest first."""
        t = self.table

        def build(parent: ColumnElement[Any]) -> tuple[Select[Any], Ordering]:
            query = select(*self.columns.values()).where(
                t.c[f"{kind}_id"] == parent, t.c.pipeline_id == pipeline_id
            )
            if periods is not None:
                query = query.where(t.c.period.in_(list(periods)))
            return query, self.order

        return await fetch_pages(conn, subject_ids, build, page, self._record)

    async def by_ids(self, conn: AsyncConnection, ids: Sequence[int]) -> dict[int, R]:
        rows = await conn.execute(select(*self.columns.values()).where(among(self.table.c.id, ids)))
        return {row.id: self._record(row) for row in rows}


SUBMISSIONS = EntryLog(
    "submissions", "submission", forecast_submissions, SubmissionRecord, "submitted_by", "submitted_at"
)
ADJUSTMENTS = EntryLog(
    "adjustments", "adjustment", forecast_adjustments, AdjustmentRecord, "adjusted_by", "adjusted_at"
)
