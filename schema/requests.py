"""The request's log record (set by pipecast.logs.RequestLog) and the GraphQL side of it: the operation
name and error codes go into the record, and the request id into every error's extensions."""

import re
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from strawberry.extensions import SchemaExtension

# graphql-core suggests names ("Did you mean 'first'?") for arguments and enum values too; like field
# suggestions (off in the schema's config), they would describe the schema to whoever probes it.
HINT = re.compile(r"\s*Did you mean .*\?\s*$", re.DOTALL)
record_var: ContextVar[dict[str, Any] | None] = ContextVar("pipecast_request", default=None)


def current() -> dict[str, Any]:
    """This request's log record (empty outside a request)."""
    return record_var.get() or {}


def note(**fields: Any) -> None:
    record = record_var.get()
    if record is not None:
        record.update(fields)


class OperationName(SchemaExtension):
    """Puts the GraphQL operation's name and error codes into the request's log record."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        errors = getattr(context.result, "errors", None) or []
        note(
            operation=context.operation_name,
            error_codes=sorted({(e.extensions or {}).get("code", "INTERNAL_SERVER_ERROR") for e in errors}),
        )
        for error in errors:
            error.message = HINT.sub("", error.message)
            error.extensions = {**(error.extensions or {}), "requestId": current().get("request_id")}
