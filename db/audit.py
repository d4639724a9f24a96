"""The append-only audit log."""

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import audit_log


async def record(
    conn: AsyncConnection, *, actor_id: int | None, action: str, target: str, details: Any
) -> None:
    await conn.execute(
        insert(audit_log).values(actor_id=actor_id, action=action, target=target, details=details)
    )
