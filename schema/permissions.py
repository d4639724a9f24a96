"""Permissions declared where a field is declared: `needs(resource, action)` checks, before the resolver
runs, that the viewer holds the permission with scope ALL (else FORBIDDEN, nothing read), and the field's
description says so ("Needs directory:manage."). Fields whose rule depends on the object (a deal's owner,
a goal's subject) check it in their resolvers, through authz."""

from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from resolvers.context import Context
from resolvers.errors import Forbidden


class Holds(BasePermission):
    """The viewer holds (resource, action) with scope ALL."""

    error_class = Forbidden

    def __init__(self, resource: str, action: str, what: str) -> None:
        self.resource, self.action = resource, action
        self.message = f"{what} needs the {resource}:{action} permission"

    def has_permission(self, source: Any, info: strawberry.Info[Context], **kwargs: Any) -> bool:
        return info.context.access.can(self.resource, self.action)


def needs(resource: str, action: str, what: str) -> list[FieldExtension]:
    """The extension of a field that needs (resource, action) with scope ALL; `what` names the field in the
    refusal."""
    return [PermissionExtension(permissions=[Holds(resource, action, what)], use_directives=False)]


def needing(resource: str, action: str, description: str) -> str:
    """A field's description, ending with the permission it needs."""
    return f"{description} Needs {resource}:{action}."
