"""Roles, policies and the audit log in PostgreSQL: the writes behind permission management.

Every write here NOTIFYs the other processes (delivered on commit) and happens in the caller's
transaction, together with its audit entry.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Text

from authz.roles import ADMIN, notify_policy_change, user_subject
from db.pagination import Ordering, Page, PageRequest, fetch_pages
from db.tables import casbin_rule, roles, users
from db.users import USER_ORDER, UserRecord, user_columns, user_record


async def role_names(conn: AsyncConnection) -> list[str]:
    return list((await conn.execute(select(roles.c.name).order_by(roles.c.name))).scalars())


async def role_exists(conn: AsyncConnection, name: str) -> bool:
    return bool(await conn.scalar(select(exists().where(roles.c.name == name))))


async def create_role(conn: AsyncConnection, name: str) -> None:
    await conn.execute(insert(roles).values(name=name))


async def has_role(conn: AsyncConnection, user_id: int, role: str) -> bool:
    return bool(await conn.scalar(select(exists().where(*_assignment(user_id, role)))))


def _assignment(user_id: int, role: str) -> list[ColumnElement[bool]]:
    return [casbin_rule.c.ptype == "g", casbin_rule.c.v0 == user_subject(user_id), casbin_rule.c.v1 == role]


async def assign(conn: AsyncConnection, user_id: int, role: str) -> None:
    await conn.execute(
        pg_insert(casbin_rule).values(ptype="g", v0=user_subject(user_id), v1=role).on_conflict_do_nothing()
    )
    await notify_policy_change(conn)


async def unassign(conn: AsyncConnection, user_id: int, role: str) -> None:
    await conn.execute(delete(casbin_rule).where(*_assignment(user_id, role)))
    await notify_policy_change(conn)


@dataclass(frozen=True, slots=True)
class Rule:
    subject: str
    resource: str
    action: str
    scope: str
    unassigned: bool


async def rules_of(conn: AsyncConnection, subject: str) -> dict[tuple[str, str], Rule]:
    rows = await conn.execute(
        select(casbin_rule.c.v1, casbin_rule.c.v2, casbin_rule.c.v3, casbin_rule.c.v4).where(
            casbin_rule.c.ptype == "p", casbin_rule.c.v0 == subject
        )
    )
    return {(r.v1, r.v2): Rule(subject, r.v1, r.v2, r.v3, r.v4 == "true") for r in rows}


async def set_rule(conn: AsyncConnection, rule: Rule) -> None:
    """One policy per (subject, resource, action): replace it, or remove it for scope NONE."""
    await conn.execute(
        delete(casbin_rule).where(
            casbin_rule.c.ptype == "p",
            casbin_rule.c.v0 == rule.subject,
            casbin_rule.c.v1 == rule.resource,
            casbin_rule.c.v2 == rule.action,
        )
    )
    if rule.scope != "NONE":
        await conn.execute(
            insert(casbin_rule).values(
                ptype="p",
                v0=rule.subject,
                v1=rule.resource,
                v2=rule.action,
                v3=rule.scope,
                v4="true" if rule.unassigned else "false",
            )
        )
    await notify_policy_change(conn)


def _subject_of(user_id: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.concat("user:", user_id)


async def active_admins(conn: AsyncConnection) -> int:
    """Active users holding the admin role."""
    query = select(func.count()).where(
        users.c.active,
        exists().where(
            casbin_rule.c.ptype == "g", casbin_rule.c.v0 == _subject_of(users.c.id), casbin_rule.c.v1 == ADMIN
        ),
    )
    return int(await conn.scalar(query) or 0)


async def active_permission_managers(conn: AsyncConnection) -> int:
    """Active users who hold permissions:manage ALL, directly or through a role."""
    assignments = casbin_rule.alias("assignments")
    their_roles = select(assignments.c.v1).where(
        assignments.c.ptype == "g", assignments.c.v0 == _subject_of(users.c.id)
    )
    granting = select(casbin_rule.c.id).where(
        casbin_rule.c.ptype == "p",
        casbin_rule.c.v1 == "permissions",
        casbin_rule.c.v2 == "manage",
        casbin_rule.c.v3 == "ALL",
        or_(casbin_rule.c.v0 == _subject_of(users.c.id), casbin_rule.c.v0.in_(their_roles)),
    )
    return int(await conn.scalar(select(func.count()).where(users.c.active, granting.exists())) or 0)


async def members_by_role(
    conn: AsyncConnection, names: Sequence[str], page: PageRequest
) -> dict[str, Page[UserRecord]]:
    def build(role: ColumnElement[Any]) -> tuple[Select[Any], Ordering]:
        holders = select(casbin_rule.c.v0).where(casbin_rule.c.ptype == "g", casbin_rule.c.v1 == role)
        query = select(*user_columns()).where(
            _subject_of(users.c.id).in_(holders.correlate_except(casbin_rule))
        )
        return query, USER_ORDER

    return await fetch_pages(conn, names, build, page, user_record, key_type=Text())
