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


class JsonFormatter(logging.Formatter):
    """Every log line as one JSON object: the access lines are JSON already; anything else (uvicorn's
    start and stop, warnings, logged errors with their traceback) gets time, level, logger and message."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == log.name:
            return record.getMessage()
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, sort_keys=True)


# uvicorn's logging: its access lines off (Pipecast writes one per request), its other lines JSON.
UVICORN_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


def configure_logging() -> None:
    """Pipecast's lines — the access lines and everything its modules log — go to stderr as JSON, once
    per process. The access logger writes its own lines and does not propagate."""
    for logger in (log, logging.getLogger("pipecast")):
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(JsonFormatter())
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False
