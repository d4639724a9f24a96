"""Users: reads and writes."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import users


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    name: str
    email: str
    active: bool
    sales_seat: bool


_COLUMNS = (users.c.id, users.c.name, users.c.email, users.c.active, users.c.sales_seat)


async def users_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, UserRecord]:
    rows = await conn.execute(select(*_COLUMNS).where(users.c.id.in_(list(ids))))
    return {row.id: UserRecord(*row) for row in rows}


async def user_by_email(conn: AsyncConnection, email: str) -> UserRecord | None:
    row = (await conn.execute(select(*_COLUMNS).where(func.lower(users.c.email) == email.lower()))).first()
    return UserRecord(*row) if row else None


async def create_user(conn: AsyncConnection, *, name: str, email: str, sales_seat: bool) -> int:
    result = await conn.execute(
        insert(users).values(name=name, email=email, sales_seat=sales_seat).returning(users.c.id)
    )
    user_id: int = result.scalar_one()
    return user_id
