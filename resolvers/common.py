"""Small helpers every resolver module uses."""

from collections.abc import Sequence
from typing import TypeVar

from strawberry.relay import to_base64

from resolvers.context import Context
from resolvers.errors import Forbidden, NotFound

T = TypeVar("T")


async def require_admin(context: Context, what: str) -> None:
    """Directory, settings and pipeline changes need the admin role (until Casbin scopes are enforced)."""
    if not await context.access.is_admin():
        raise Forbidden(f"{what} needs the admin role")


def found(value: T | None, type_name: str, key: int) -> T:
    """`value`, or NOT_FOUND naming the global ID the client sent (hidden and missing read the same)."""
    if value is None:
        raise NotFound(f"no {type_name} with id {to_base64(type_name, key)!r}")
    return value


def unique(values: Sequence[T]) -> list[T]:
    return list(dict.fromkeys(values))
