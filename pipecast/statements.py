"""Counting SQL statements per request, for benchmarks and tests: `X-Pipecast-Statements` on every
response, and `X-Pipecast-Read-Path` (compiled or executed) on GraphQL queries.

Off unless PIPECAST_REPORT_STATEMENTS is set; the bench turns it on to report statements per request.
"""

from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.requests import current

HEADER = b"x-pipecast-statements"
READ_PATH_HEADER = b"x-pipecast-read-path"
_count: ContextVar[list[int] | None] = ContextVar("pipecast_statements", default=None)


def count_statements(engine: AsyncEngine) -> None:
    def seen(*_: Any) -> None:
        counter = _count.get()
        if counter is not None:
            counter[0] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", seen)


class ReportStatements:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counter = [0]
        token = _count.set(counter)

        async def send_with_count(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (HEADER, str(counter[0]).encode())]
                read_path = current().get("read_path")
                if read_path:
                    headers.append((READ_PATH_HEADER, read_path.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_count)
        finally:
            _count.reset(token)
