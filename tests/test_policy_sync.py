"""Policy changes made through one server process are enforced by another on the same database.

Two real `pipecast serve` processes share one database: a role granted through A shows in B within a
second (LISTEN/NOTIFY, debounced reload), and B keeps listening after its connection is cut.
"""

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from strawberry.relay import to_base64

from authz.roles import assign_roles
from db.engine import create_engine
from db.users import create_user
from tests.support import SECRET, cli_env, served, token_for

pytestmark = pytest.mark.slow  # server processes, fuzzing or long runs: `pytest -m "not slow"` skips them

SYNC_SECONDS = 1.0


@pytest.fixture(scope="module")
async def people(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        admin = await create_user(conn, name="Sync Admin", email="sync.admin@example.com", sales_seat=False)
        await assign_roles(conn, admin, ["admin"])
        target = await create_user(conn, name="Tess Target", email="tess@example.com", sales_seat=True)
    await engine.dispose()
    return {"admin": admin, "target": target}


@pytest.fixture(scope="module")
def servers(
    database_url: str, people: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    folder = tmp_path_factory.mktemp("sync")
    env = cli_env(DATABASE_URL=database_url, PIPECAST_JWT_SECRET=SECRET)
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(served(env=env, log=folder / f"{name}.log")).base for name in "ab"]


def _post(base: str, token: str, query: str, **variables: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


def _roles_seen_within(base: str, token: str, expected: list[str], seconds: float) -> float:
    started = time.monotonic()
    while True:
        roles = _post(base, token, "{ viewer { roles } }")["data"]["viewer"]["roles"]
        elapsed = time.monotonic() - started
        if roles == expected:
            return elapsed
        assert elapsed < seconds, f"B still sees {roles} after {elapsed:.2f} s"
        time.sleep(0.02)


def test_a_grant_through_one_process_is_enforced_by_another(
    servers: list[str], people: dict[str, int]
) -> None:
    a, b = servers
    admin, target = token_for(people["admin"]), token_for(people["target"])
    assert _post(b, target, "{ viewer { roles } }")["data"]["viewer"]["roles"] == []
    assign = 'mutation($u: ID!) { assignRole(userId: $u, role: "sales_rep") { roles } }'
    _post(a, admin, assign, u=to_base64("User", people["target"]))
    elapsed = _roles_seen_within(b, target, ["sales_rep"], SYNC_SECONDS)
    print(f"policy change seen by the other process after {elapsed * 1000:.0f} ms")


async def test_the_listener_comes_back_after_its_connection_drops(
    servers: list[str], people: dict[str, int], database_url: str
) -> None:
    a, b = servers
    admin, target = token_for(people["admin"]), token_for(people["target"])
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        killed = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN \"pipecast_policies\"%'"
            )
        )
    await engine.dispose()
    assert killed == 2  # both processes' listeners
    await asyncio.sleep(0.5)  # reconnecting
    unassign = 'mutation($u: ID!) { unassignRole(userId: $u, role: "sales_rep") { roles } }'
    _post(a, admin, unassign, u=to_base64("User", people["target"]))
    _roles_seen_within(b, target, [], 5 * SYNC_SECONDS)
