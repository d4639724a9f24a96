"""A request id for every request and one JSON log line per request.

The line holds the request id, method and path, the GraphQL operation name, the user id, the HTTP status,
the error codes and the duration — never the token or the variables.
"""

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.requests import record_var

log = logging.getLogger("pipecast.access")
HEADER = b"x-request-id"
_ACCEPTED = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestLog:
    """Outermost middleware: gives the request an id (or keeps a sane incoming X-Request-Id) and logs it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(HEADER, b"").decode("latin-1")
        request_id = incoming if _ACCEPTED.fullmatch(incoming) else uuid.uuid4().hex
        record: dict[str, Any] = {"request_id": request_id, "method": scope["method"], "path": scope["path"]}
        token = record_var.set(record)
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            record["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
            if scope["path"] not in ("/healthz", "/readyz"):
                log.info(json.dumps(record, sort_keys=True))
            record_var.reset(token)


def configure_logging() -> None:
    """Access lines go to stderr as they are (already JSON), once per process."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
