"""Fixtures: a real PostgreSQL, a migrated template database, a fresh database per test module.

TEST_DATABASE_URL names a server to use (CI: postgresql://postgres@127.0.0.1:5432/postgres); without it
the embedded PostgreSQL starts in a temporary folder.
"""

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from authz.roles import assign_roles
from db import embedded
from db.engine import asyncpg_dsn, create_engine
from db.migrate import upgrade
from db.users import create_user
from pipecast.app import create_app
from pipecast.settings import Settings
from tests.support import SECRET


def database_url_for(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def admin_execute(server_url: str, *statements: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.environ.get("TEST_DATABASE_URL") or embedded.start(tmp_path_factory.mktemp("embedded") / "pg")


@pytest.fixture(scope="session")
async def template_database(server_url: str) -> AsyncIterator[str]:
    name = f"pipecast_template_{uuid.uuid4().hex[:12]}"
    await admin_execute(server_url, f'CREATE DATABASE "{name}"')
    engine = create_engine(database_url_for(server_url, name))
    await upgrade(engine)
    await engine.dispose()
    yield name
    await admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def fresh_database(server_url: str, template: str | None) -> str:
    """A new database (a clone of the migrated template, or empty); returns its URL."""
    name = f"pipecast_test_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    await admin_execute(server_url, f'CREATE DATABASE "{name}"{clause}')
    _created.append((server_url, name))
    return database_url_for(server_url, name)


_created: list[tuple[str, str]] = []


@pytest.fixture(scope="session", autouse=True)
async def _drop_test_databases() -> AsyncIterator[None]:
    yield
    for server, name in _created:
        await admin_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
async def database_url(server_url: str, template_database: str) -> str:
    """A freshly migrated database for this test module."""
    return await fresh_database(server_url, template_database)


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
async def app(database_url: str) -> AsyncIterator[Starlette]:
    """The real app (in process) against this module's database, started through its lifespan."""
    settings = Settings(
        database_url=database_url, jwt_secret=SECRET, graphiql=False, data_dir=Path("/nonexistent")
    )
    application = create_app(settings.resolved())
    async with LifespanManager(application):
        yield application


@pytest.fixture(scope="module")
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """GraphQL over HTTP to the app."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://pipecast.test"
    ) as http:
        yield http


@pytest.fixture(scope="module")
async def admin(engine: AsyncEngine, app: Starlette) -> int:
    """A user with the admin role in this module's database, known to the app's policies."""
    async with engine.begin() as conn:
        user_id = await create_user(
            conn, name="Astrid Admin", email="astrid.admin@example.com", sales_seat=False
        )
        await assign_roles(conn, user_id, ["admin"])
    await app.state.policies.reload()  # the app would also pick it up from the NOTIFY within ~0.1 s
    return user_id
