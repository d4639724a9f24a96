"""Alembic environment.

`db.migrate` passes an open connection in `config.attributes["connection"]` (the cookbook's "connection
sharing" pattern), so migrations run inside the caller's event loop: the CLI, the app and the tests.
"""

from alembic import context
from sqlalchemy.engine import Connection

from db.tables import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `pipecast migrate`, which passes the database connection")
run_migrations(connection)
