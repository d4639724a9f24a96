"""Permission management: roles, permissions and the audit log (permissions:manage)."""

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from authz.admin import Rule
from db.audit import AUDIT_ORDER, AuditRecord
from db.users import USER_ORDER
from resolvers import admin as resolve
from resolvers import users as resolve_users
from resolvers.context import Context
from resolvers.errors import BadUserInput
from schema import ids
from schema.enums import Scope
from schema.pagination import Connection, arguments, connection
from schema.permissions import needing, needs
from schema.users import User, UserConnection, user_connection


def shown_subject(subject: str) -> str:
    """user:<id> inside, user:<global ID> at the API; role names as they are."""
    if subject.startswith("user:") and subject[5:].isdecimal():
        return f"user:{ids.encode('User', int(subject[5:]))}"
    return subject


def stored_subject(subject: str) -> str:
    if subject.startswith("user:"):
        return f"user:{ids.decode(subject[5:], 'User', 'subject')}"
    if not subject:
        raise BadUserInput("subject: give a role name or user:<user ID>")
    return subject


@strawberry.type(description="A grant: a subject may perform an action on a resource within a scope.")
class Permission:
    subject: str = strawberry.field(description="A role name, or a user as user:<id>.")
    resource: str
    action: str
    scope: Scope
    unassigned: bool = strawberry.field(description="Deal permissions: deals without an owner are included.")

    @classmethod
    def of(cls, rule: Rule) -> "Permission":
        return cls(
            subject=shown_subject(rule.subject),
            resource=rule.resource,
            action=rule.action,
            scope=Scope(rule.scope),
            unassigned=rule.unassigned,
        )


@strawberry.type(description="A named set of permissions given to users.")
class Role:
    name: str

    @strawberry.field(description="The role's permissions, by resource and action.")
    def permissions(self, info: strawberry.Info[Context]) -> list[Permission]:
        return [Permission.of(rule) for rule in resolve.role_rules(info.context, self.name)]

    @strawberry.field(description="The users holding the role, by name.")
    async def members(
        self, info: strawberry.Info[Context], first: int | None = None, after: str | None = None
    ) -> UserConnection:
        page = await resolve.role_members(
            info.context, self.name, arguments(info, first, after, USER_ORDER.name)
        )
        return user_connection(info, page)


@strawberry.type(description="One change to roles, policies, settings, goals or submissions.")
class AuditEntry(relay.Node):
    id: relay.NodeID[int]
    at: datetime
    action: str = strawberry.field(description="What was done, such as role.assign or permission.set.")
    record: strawberry.Private[AuditRecord]

    @classmethod
    def of(cls, record: AuditRecord) -> "AuditEntry":
        return cls(id=record.id, at=record.at, action=record.action, record=record)

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info[Context], node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        records = await resolve.audit_by_ids(info.context, [int(i) for i in node_ids])
        return [cls.of(r) if r else None for r in records]

    @strawberry.field(description="Who made the change.")
    async def actor(self, info: strawberry.Info[Context]) -> User | None:
        if self.record.actor_id is None:
            return None
        user = await resolve_users.user(info.context, self.record.actor_id)
        return User.of(user) if user else None

    @strawberry.field(description="What was changed: user:<id>, role:<name>, pipeline:<id>, company…")
    def target(self) -> str:
        kind, _, key = self.record.target.partition(":")
        type_name = {"user": "User", "pipeline": "Pipeline", "stage": "Stage", "team": "Team"}.get(kind)
        return (
            f"{kind}:{ids.encode(type_name, int(key))}"
            if type_name and key.isdecimal()
            else self.record.target
        )

    @strawberry.field(description="The change, as a JSON document.")
    def details(self) -> str | None:
        return None if self.record.details is None else json.dumps(self.record.details, sort_keys=True)


@strawberry.type(description="A page of the audit log, newest first.")
class AuditEntryConnection(Connection[AuditEntry]):
    pass


@strawberry.input(description="Grant, change or (scope NONE) remove a permission.")
class SetPermissionInput:
    subject: str = strawberry.field(description="A role name, or a user as user:<id>.")
    resource: str
    action: str
    scope: Scope
    unassigned: bool | None = None


@strawberry.type
class AdminQuery:
    @strawberry.field(
        description=needing("permissions", "manage", "Every role, by name."),
        extensions=needs("permissions", "manage", "roles"),
    )
    async def roles(self, info: strawberry.Info[Context]) -> list[Role]:
        return [Role(name=name) for name in await resolve.role_names(info.context)]

    @strawberry.field(
        description=needing("permissions", "manage", "Every recorded change, newest first."),
        extensions=needs("permissions", "manage", "auditLog"),
    )
    async def audit_log(
        self, info: strawberry.Info[Context], first: int | None = None, after: str | None = None
    ) -> AuditEntryConnection:
        page = await resolve.audit_page(info.context, arguments(info, first, after, AUDIT_ORDER.name))
        return connection(AuditEntryConnection, info.context, page, AUDIT_ORDER.name, AuditEntry.of)


@strawberry.type
class AdminMutation:
    @strawberry.mutation(
        description=needing("permissions", "manage", "Create a role without permissions."),
        extensions=needs("permissions", "manage", "createRole"),
    )
    async def create_role(self, info: strawberry.Info[Context], name: str) -> Role:
        return Role(name=await resolve.create_role(info.context, name))

    @strawberry.mutation(
        description=needing(
            "permissions", "manage", "Give a user a role; you must hold every permission of the role."
        ),
        extensions=needs("permissions", "manage", "assignRole"),
    )
    async def assign_role(self, info: strawberry.Info[Context], user_id: strawberry.ID, role: str) -> User:
        return User.of(await resolve.assign_role(info.context, ids.decode(user_id, "User", "userId"), role))

    @strawberry.mutation(
        description=needing(
            "permissions", "manage", "Take a role from a user; the last admin keeps the admin role."
        ),
        extensions=needs("permissions", "manage", "unassignRole"),
    )
    async def unassign_role(self, info: strawberry.Info[Context], user_id: strawberry.ID, role: str) -> User:
        return User.of(await resolve.unassign_role(info.context, ids.decode(user_id, "User", "userId"), role))

    @strawberry.mutation(
        description=needing(
            "permissions", "manage", "Set a role's or a user's permission; scope NONE removes it."
        ),
        extensions=needs("permissions", "manage", "setPermission"),
    )
    async def set_permission(self, info: strawberry.Info[Context], input: SetPermissionInput) -> Permission:
        rule = Rule(
            stored_subject(input.subject.strip()),
            input.resource,
            input.action,
            input.scope.value,
            bool(input.unassigned),
        )
        return Permission.of(await resolve.set_permission(info.context, rule))
