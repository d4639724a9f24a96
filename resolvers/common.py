"""Small helpers every resolver module uses."""

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.relay import to_base64

from db.audit import record
from resolvers.context import Context
from resolvers.errors import Conflict, NotFound

UNIQUE_VIOLATION = "23505"
CENT = Decimal("0.01")

T = TypeVar("T")


async def audit(conn: AsyncConnection, context: Context, action: str, target: str, details: Any) -> None:
    """Record a change the viewer made, in the transaction that makes it. Target and details are in
    the API's terms (a client reads them as they are): targets as `node_target` makes them, global IDs,
    field names as the API spells them (`in_api_terms`), money with its cents."""
    await record(conn, actor_id=context.viewer.id, action=action, target=target, details=details)


def node_target(type_name: str, key: int) -> str:
    """An audit target naming an object: its kind and its global ID (user:VXNlcjo5). Other targets are
    role:<name>, currency:<code> and company."""
    return f"{type_name.lower()}:{to_base64(type_name, key)}"


def money_text(amount: Decimal) -> str:
    """Money as the API writes a stored amount: with its cents."""
    return str(amount.quantize(CENT))


def in_api_terms(values: Mapping[str, Any]) -> dict[str, Any]:
    """A record's values as the API names and writes them: camelCase names, numbers as decimal text
    without trailing zeros (a probability as 0.2)."""
    return {_camel(name): _text(value) for name, value in values.items()}


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def _text(value: Any) -> Any:
    return format(value.normalize(), "f") if isinstance(value, Decimal) else value


def found(value: T | None, type_name: str, key: int) -> T:
    """`value`, or NOT_FOUND naming the global ID the client sent (hidden and missing read the same)."""
    if value is None:
        raise NotFound(f"no {type_name} with id {to_base64(type_name, key)!r}")
    return value


def distinct(values: Sequence[T]) -> list[T]:
    return list(dict.fromkeys(values))


@contextlib.asynccontextmanager
async def unique(what: str) -> AsyncIterator[None]:
    """A uniqueness violation raced past the checks (two requests at once): report it as a CONFLICT."""
    try:
        yield
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == UNIQUE_VIOLATION or "unique" in str(exc.orig).lower():
            raise Conflict(what) from None
        raise
