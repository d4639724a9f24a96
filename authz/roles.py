"""Roles and role assignments, stored in the Casbin policy table."""

from collections.abc import Iterable

from sqlalchemy import insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import casbin_rule, roles

CHANNEL = "pipecast_policies"
ADMIN = "admin"
SALES_MANAGER = "sales_manager"
SALES_REP = "sales_rep"


class UnknownRole(ValueError):
    """A role name that does not exist."""


def user_subject(user_id: int) -> str:
    return f"user:{user_id}"


async def assign_roles(conn: AsyncConnection, user_id: int, names: Iterable[str]) -> None:
    wanted = sorted(set(names))
    if not wanted:
        return
    known = set((await conn.execute(select(roles.c.name).where(roles.c.name.in_(wanted)))).scalars())
    if missing := [name for name in wanted if name not in known]:
        raise UnknownRole(f"unknown role {missing[0]!r}")
    await conn.execute(
        pg_insert(casbin_rule)
        .values([{"ptype": "g", "v0": user_subject(user_id), "v1": name} for name in wanted])
        .on_conflict_do_nothing()
    )
    await notify_policy_change(conn)


async def bulk_assign(conn: AsyncConnection, assignments: Iterable[tuple[int, str]]) -> None:
    """Assign roles known to exist, many at once (the seeder)."""
    rows = [{"ptype": "g", "v0": user_subject(user_id), "v1": role} for user_id, role in assignments]
    if rows:
        await conn.execute(insert(casbin_rule), rows)
        await notify_policy_change(conn)


async def notify_policy_change(conn: AsyncConnection) -> None:
    """Tell every process to reload its policies; PostgreSQL delivers it when the transaction commits."""
    await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
