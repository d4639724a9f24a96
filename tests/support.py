"""Helpers shared by the tests: tokens, GraphQL over HTTP, the CLI as a user types it."""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from strawberry.relay import from_base64
from websockets.typing import Origin, Subprotocol

from db.engine import create_engine
from db.users import user_by_email
from pipecast.auth import issue_token
from pipecast.seed import DEMO_ACCOUNTS

SECRET = "test-secret-" + "x" * 40


def token_for(user_id: int, *, ttl: int = 600, secret: str = SECRET) -> str:
    return issue_token(user_id, secret, ttl)


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


async def data(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, *, token: str
) -> Any:
    """The `data` of a successful operation; fails the test on any error."""
    response = await graphql(client, query, variables, token=token)
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body["errors"]
    return body["data"]


PIPECAST = shutil.which("pipecast", path=str(Path(sys.executable).parent)) or "pipecast"


def cli_env(**overrides: str) -> dict[str, str]:
    """The environment a user's shell would have, without Pipecast settings unless given."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("PIPECAST_")}
    return env | overrides


def pipecast(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PIPECAST, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def post(base: str, token: str, query: str, **variables: Any) -> Any:
    """The `data` of an operation sent to a running server (synchronously); fails on any error."""
    response = httpx.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def cli_admin(env: dict[str, str]) -> str:
    """A token for a first admin created with `pipecast create-user --admin`, as an operator would."""
    created = pipecast(
        "create-user", "--email", "root@example.com", "--name", "Root Admin", "--admin", env=env
    )
    assert created.returncode == 0, created.stderr
    return token_for(int(from_base64(created.stdout.strip())[1]))


async def errors(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, *, token: str
) -> list[dict[str, Any]]:
    """The errors of an operation that must fail; fails the test if it succeeded."""
    response = await graphql(client, query, variables, token=token)
    body = response.json()
    assert body.get("errors"), body
    return list(body["errors"])


async def error_code(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, *, token: str
) -> tuple[str, str]:
    """(extensions.code, message) of the single error of a failing operation."""
    [error] = await errors(client, query, variables, token=token)
    return error["extensions"]["code"], error["message"]


@contextlib.contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Collects every SQL statement the engine runs inside the block."""
    seen: list[str] = []

    def record(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def token_of(global_id: str) -> str:
    """A token for the user with this global ID."""
    type_name, key = from_base64(global_id)
    assert type_name == "User"
    return token_for(int(key))


STARTUP_SECONDS = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"serve was not ready within {STARTUP_SECONDS} s:\n{log.read_text()}")


@dataclass(frozen=True)
class Served:
    """A `pipecast serve` process started by a test: its base URL, the process and its log."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def served(*args: str, env: dict[str, str], log: Path) -> Iterator[Served]:
    """`pipecast serve --port <free> *args` until ready; stopped with SIGTERM on exit."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [PIPECAST, "serve", "--port", str(port), *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Served(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_ready(server.base, process, log)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


async def seed_demo(database_url: str) -> dict[str, int]:
    """`pipecast seed --demo` as a user types it; the demo accounts' user ids by role."""
    seeded = pipecast("seed", "--demo", env=cli_env(DATABASE_URL=database_url))
    assert seeded.returncode == 0, seeded.stderr
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        found = {role: await user_by_email(conn, email) for role, email in DEMO_ACCOUNTS.items()}
    await engine.dispose()
    return {role: user.id for role, user in found.items() if user is not None}


@contextlib.asynccontextmanager
async def locked_deals(database_url: str) -> AsyncIterator[AsyncConnection]:
    """A connection holding an ACCESS EXCLUSIVE lock on `deals`: every read of deals waits for it."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("LOCK TABLE deals IN ACCESS EXCLUSIVE MODE"))
            yield conn
            await conn.rollback()
    finally:
        await engine.dispose()


class LiveClient:
    """A graphql-transport-ws client over a real WebSocket: subscribe, then read each operation's
    messages in order (a reader task sorts them by operation id)."""

    PROTOCOL = Subprotocol("graphql-transport-ws")

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.messages: dict[str | None, asyncio.Queue[dict[str, Any]]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.socket:
                message = json.loads(raw)
                self.queue(message.get("id")).put_nowait(message)

    def queue(self, operation: str | None) -> "asyncio.Queue[dict[str, Any]]":
        return self.messages.setdefault(operation, asyncio.Queue())

    @classmethod
    @contextlib.asynccontextmanager
    async def connected(
        cls, base: str, token: str | None, *, origin: str | None = None, max_queue: int = 1_000
    ) -> AsyncIterator["LiveClient"]:
        """Connected and acknowledged (connection_init with `Authorization: Bearer <token>`)."""
        url = base.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(
            url,
            subprotocols=[cls.PROTOCOL],
            origin=Origin(origin) if origin else None,
            max_queue=max_queue,
            open_timeout=10,
        ) as socket:
            client = cls(socket)
            try:
                await client.init(token)
                ack = await client.next(None)
                assert ack["type"] == "connection_ack", ack
                yield client
            finally:
                client.reader.cancel()

    async def init(self, token: str | None) -> None:
        payload = {"Authorization": f"Bearer {token}"} if token is not None else {}
        await self.socket.send(json.dumps({"type": "connection_init", "payload": payload}))

    async def subscribe(self, operation: str, query: str, **variables: Any) -> None:
        payload = {"query": query, "variables": variables}
        await self.socket.send(json.dumps({"type": "subscribe", "id": operation, "payload": payload}))

    async def complete(self, operation: str) -> None:
        await self.socket.send(json.dumps({"type": "complete", "id": operation}))

    async def next(self, operation: str | None, within: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(self.queue(operation).get(), within)

    async def data(self, operation: str, within: float = 10) -> dict[str, Any]:
        """The next event's data (fails on an error message)."""
        message = await self.next(operation, within)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def error(self, operation: str, within: float = 10) -> dict[str, Any]:
        """The operation's next message, which must be an error (an `error` message, or `next` with
        errors, as the protocol sends for an operation that fails once it runs): its first error."""
        message = await self.next(operation, within)
        while message["type"] == "next" and not message["payload"].get("errors"):
            message = await self.next(operation, within)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        first: dict[str, Any] = errors[0]
        return first

    async def quiet(self, operation: str, seconds: float) -> None:
        """Nothing arrives for the operation within `seconds`."""
        await asyncio.sleep(seconds)
        assert self.queue(operation).empty(), self.queue(operation).get_nowait()

    async def closed(self, within: float = 10) -> tuple[int | None, str]:
        """The close code and reason the server ended the connection with."""
        with contextlib.suppress(websockets.ConnectionClosed):
            await asyncio.wait_for(self.socket.wait_closed(), within)
        return self.socket.close_code, self.socket.close_reason or ""
