"""Apply and inspect Alembic migrations from async code."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class DatabaseBehind(RuntimeError):
    """The database has not been migrated to the revision this code needs."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate to `revision`; returns the revisions before and after."""

    def run(connection: Connection) -> str | None:
        before = _current(connection)
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        return before

    async with engine.begin() as conn:
        before = await conn.run_sync(run)
    return before, head_revision() if revision == "head" else revision


async def ensure_current(engine: AsyncEngine) -> None:
    """Refuse to serve a database that is behind the code."""
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise DatabaseBehind(
            f"the database is at migration {current or '(none)'}, this Pipecast needs {head}: "
            "run `pipecast migrate` first"
        )
