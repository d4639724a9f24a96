"""Migrations: an empty database is brought to the data model; a database behind is refused."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from asgi_lifespan import LifespanManager
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from db.engine import create_engine
from db.migrate import DatabaseBehind, current_revision, head_revision, upgrade
from db.tables import casbin_rule, company_settings, metadata, roles
from pipecast.app import create_app
from pipecast.settings import Settings
from tests.conftest import fresh_database
from tests.support import SECRET


async def test_migrating_an_empty_database_builds_the_whole_model(server_url: str) -> None:
    engine = create_engine(await fresh_database(server_url, template=None))
    try:
        assert await current_revision(engine) is None
        before, after = await upgrade(engine)
        assert (before, after) == (None, head_revision())
        assert await current_revision(engine) == head_revision()

        def differences(connection: Connection) -> list[object]:
            return list(compare_metadata(MigrationContext.configure(connection), metadata))

        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
            tables = set(
                (
                    await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
                ).scalars()
            )
            assert set(metadata.tables) | {"alembic_version"} == tables
            settings = (await conn.execute(select(company_settings))).one()
            assert (settings.currency, settings.fiscal_year_start_month) == ("USD", 1)
            assert set((await conn.execute(select(roles.c.name))).scalars()) == {
                "admin",
                "sales_manager",
                "sales_rep",
            }
            manager = await conn.execute(
                select(casbin_rule.c.v1, casbin_rule.c.v2, casbin_rule.c.v3).where(
                    casbin_rule.c.v0 == "sales_manager"
                )
            )
            assert {tuple(row) for row in manager} == {
                ("deal", "view", "TEAM"),
                ("deal", "edit", "TEAM"),
                ("forecast", "view", "TEAM"),
                ("forecast", "edit", "TEAM"),
                ("goal", "edit", "TEAM"),
                ("forecast", "adjust", "TEAM"),
            }

        # Migrating again changes nothing.
        assert await upgrade(engine) == (head_revision(), head_revision())
    finally:
        await engine.dispose()


async def test_every_foreign_key_is_indexed(database_url: str) -> None:
    engine = create_engine(database_url)
    unindexed = text(
        """
        SELECT c.conrelid::regclass::text AS table_name, c.conname
        FROM pg_constraint c
        WHERE c.contype = 'f'
          AND NOT EXISTS (
            SELECT 1 FROM pg_index i
            WHERE i.indrelid = c.conrelid
              AND (i.indkey::int2[])[0:array_length(c.conkey, 1) - 1] = c.conkey
          )
        """
    )
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(unindexed)).all() == []
    finally:
        await engine.dispose()


async def test_the_app_refuses_a_database_that_is_behind(server_url: str) -> None:
    url = await fresh_database(server_url, template=None)
    app = create_app(Settings(database_url=url, jwt_secret=SECRET, data_dir=Path("/nonexistent")))
    with pytest.raises(DatabaseBehind, match="run `pipecast migrate`"):
        async with LifespanManager(app):
            pass
