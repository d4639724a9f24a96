"""The append-only audit log: what was changed, by whom, when, with before and after."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from db.pagination import Ordering, Page, PageRequest, fetch_page
from db.records import columns_of, record_of
from db.tables import audit_log


async def record(
    conn: AsyncConnection, *, actor_id: int | None, action: str, target: str, details: Any
) -> None:
    await conn.execute(
        insert(audit_log).values(actor_id=actor_id, action=action, target=target, details=details)
    )


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor_id: int | None
    action: str
    target: str
    details: Any


AUDIT_ORDER = Ordering("audit.NEWEST_FIRST", (audit_log.c.id,), descending=True)
AUDIT_COLUMNS = columns_of(AuditRecord, audit_log)


async def audit_page(conn: AsyncConnection, page: PageRequest) -> Page[AuditRecord]:
    query = select(*AUDIT_COLUMNS.values()).where(true())
    return await fetch_page(conn, query, AUDIT_ORDER, page, lambda row: record_of(AuditRecord, row))


async def audit_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, AuditRecord]:
    rows = await conn.execute(select(*AUDIT_COLUMNS.values()).where(audit_log.c.id.in_(list(ids))))
    return {row.id: record_of(AuditRecord, row) for row in rows}
