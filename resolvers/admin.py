"""Permission management: roles, per-user policies and the audit log, with their guard rails.

- Only holders of permissions:manage change anything here, or see other users' roles and permissions.
- Nobody grants wider than they hold: a policy, or a role's every policy, must be covered by the
  actor's own grant for the same (resource, action).
- The last active admin keeps the admin role, and someone active always keeps permissions:manage.
- Every change is in the audit log with actor, time, before and after; a refused change writes nothing.
"""

import re
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from authz import admin as db
from authz.admin import Rule
from authz.catalog import PERMISSIONS, Grant
from db import audit as audit_log
from db.audit import AuditRecord
from db.pagination import Page, PageRequest, empty_page
from db.users import UserRecord, users_by_ids
from resolvers.common import audit, found, in_api_terms, node_target
from resolvers.context import Context
from resolvers.errors import BadUserInput, Conflict, Forbidden, NotFound

ROLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


def _rule(subject: str, values: Sequence[str]) -> Rule:
    _, resource, action, scope, unassigned = values
    return Rule(subject, resource, action, scope, unassigned == "true")


async def role_names(context: Context) -> list[str]:
    async with context.engine.connect() as conn:
        return await db.role_names(conn)


def role_rules(context: Context, role: str) -> list[Rule]:
    return sorted(
        (_rule(role, values) for values in context.policies.rules_of_subject(role)),
        key=lambda r: (r.resource, r.action),
    )


async def role_members(context: Context, role: str, page: PageRequest) -> Page[UserRecord]:
    async def fetch(conn: AsyncConnection, names: Sequence[str]) -> dict[str, Page[UserRecord]]:
        return await db.members_by_role(conn, names, page)

    loader = context.loaders.by_arguments(("role members", page), fetch, empty_page(page))
    found_: Page[UserRecord] = await loader.load(role)
    return found_


async def user_rules(context: Context, user_id: int) -> list[Rule]:
    """The policies reaching a user, each with the subject it comes from (a role or the user)."""
    if user_id != context.viewer.id and not context.access.can("permissions", "manage"):
        raise Forbidden("reading another user's permissions needs the permissions:manage permission")
    rules = [_rule(values[0], values) for values in await context.policies.rules_for(user_id)]
    return sorted(rules, key=lambda r: (r.resource, r.action, r.subject))


async def audit_page(context: Context, page: PageRequest) -> Page[AuditRecord]:
    async with context.engine.connect() as conn:
        return await audit_log.audit_page(conn, page)


def _cover(context: Context, rule: Rule) -> None:
    mine = context.access.grant(rule.resource, rule.action)
    if not mine.covers(Grant(rule.scope, rule.unassigned)):
        raise Forbidden(
            f"granting {rule.resource}:{rule.action} {rule.scope}"
            + (" with unassigned deals" if rule.unassigned else "")
            + f" needs that much yourself: you hold {rule.resource}:{rule.action} {mine.scope}"
        )


async def _user(conn: AsyncConnection, user_id: int) -> UserRecord:
    return found((await users_by_ids(conn, [user_id])).get(user_id), "User", user_id)


async def _known_role(conn: AsyncConnection, role: str) -> None:
    if not await db.role_exists(conn, role):
        raise NotFound(f"no role named {role!r}")


async def keep_someone_in_charge(conn: AsyncConnection) -> None:
    """Refuse a change (still uncommitted) that would leave nobody able to manage permissions."""
    if await db.active_admins(conn) == 0:
        raise Conflict("the last active admin cannot lose the admin role")
    if await db.active_permission_managers(conn) == 0:
        raise Conflict("that would leave no active user with permissions:manage")


async def create_role(context: Context, name: str) -> str:
    if not ROLE_NAME.fullmatch(name):
        raise BadUserInput(
            f"role name {name!r}: use 1–63 lowercase letters, digits or _, starting with a letter"
        )
    async with context.engine.begin() as conn:
        if await db.role_exists(conn, name):
            raise Conflict(f"a role named {name!r} already exists")
        await db.create_role(conn, name)
        await audit(conn, context, "role.create", f"role:{name}", {"name": name})
    return name


async def assign_role(context: Context, user_id: int, role: str) -> UserRecord:
    for rule in role_rules(context, role):
        _cover(context, rule)
    async with context.engine.begin() as conn:
        user = await _user(conn, user_id)
        await _known_role(conn, role)
        if not await db.has_role(conn, user_id, role):
            await db.assign(conn, user_id, role)
            await audit(
                conn,
                context,
                "role.assign",
                node_target("User", user_id),
                {"role": role, "before": False, "after": True},
            )
    await context.policies.reload()
    return user


async def unassign_role(context: Context, user_id: int, role: str) -> UserRecord:
    async with context.engine.begin() as conn:
        user = await _user(conn, user_id)
        await _known_role(conn, role)
        if await db.has_role(conn, user_id, role):
            await db.unassign(conn, user_id, role)
            await keep_someone_in_charge(conn)
            await audit(
                conn,
                context,
                "role.unassign",
                node_target("User", user_id),
                {"role": role, "before": True, "after": False},
            )
    await context.policies.reload()
    return user


async def set_permission(context: Context, rule: Rule) -> Rule:
    spec = PERMISSIONS.get((rule.resource, rule.action))
    if spec is None:
        known = ", ".join(f"{r}:{a}" for r, a in PERMISSIONS)
        raise BadUserInput(f"{rule.resource}:{rule.action} is not a permission; accepted: {known}")
    scopes, takes_unassigned = spec
    if rule.scope not in scopes:
        raise BadUserInput(
            f"{rule.resource}:{rule.action} takes the scopes {', '.join(scopes)}, not {rule.scope}"
        )
    if rule.unassigned and not takes_unassigned:
        raise BadUserInput(
            f"unassigned applies to deal permissions only, not to {rule.resource}:{rule.action}"
        )
    if rule.scope != "NONE":
        _cover(context, rule)
    async with context.engine.begin() as conn:
        if rule.subject.startswith("user:"):
            await _user(conn, int(rule.subject.removeprefix("user:")))
        else:
            await _known_role(conn, rule.subject)
        before = (await db.rules_of(conn, rule.subject)).get((rule.resource, rule.action))
        await db.set_rule(conn, rule)
        await keep_someone_in_charge(conn)
        await audit(
            conn,
            context,
            "permission.set",
            _target(rule.subject),
            {"before": _api_rule(before) if before else None, "after": _api_rule(rule)},
        )
    await context.policies.reload()
    return rule


def _target(subject: str) -> str:
    """A policy's subject as an audit target: user:<global ID>, or role:<name>."""
    if subject.startswith("user:"):
        return node_target("User", int(subject.removeprefix("user:")))
    return f"role:{subject}"


def _api_rule(rule: Rule) -> dict[str, Any]:
    """A rule as the API shows it (its subject as setPermission takes it)."""
    values = in_api_terms(asdict(rule))
    subject = _target(rule.subject)
    values["subject"] = subject if subject.startswith("user:") else rule.subject
    return values


async def audit_by_ids(context: Context, ids: Sequence[int]) -> list[AuditRecord | None]:
    """Audit entries by ID; hidden (null) without permissions:manage."""
    if not context.access.can("permissions", "manage"):
        return [None for _ in ids]
    async with context.engine.connect() as conn:
        found_ = await audit_log.audit_by_ids(conn, ids)
    return [found_.get(i) for i in ids]
