"""Database URLs and engines."""

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

CONNECT_TIMEOUT_SECONDS = 10
# asyncpg's own deadline for an answer, a little past the server's statement_timeout so that the server
# cancels first (a clean TIMEOUT) and the client only gives up on a server that does not answer at all.
COMMAND_TIMEOUT_SLACK_SECONDS = 2.0


class DatabaseUrlError(ValueError):
    """A DATABASE_URL that is not a PostgreSQL URL."""


def async_url(url: str) -> str:
    """Accept any postgresql:// or postgres:// form (with or without a driver) and use asyncpg."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise DatabaseUrlError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend not in ("postgresql", "postgres"):
        raise DatabaseUrlError(
            f"not a PostgreSQL URL (it starts with {backend}://): only postgresql:// works"
        )
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    """The same URL in the libpq form that asyncpg accepts directly."""
    return async_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


def create_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, statement_timeout: float | None = None
) -> AsyncEngine:
    """An asyncpg engine. With `statement_timeout` (seconds, the server's serving setting) nothing waits
    longer than that: PostgreSQL cancels a longer statement, asyncpg gives up on a connection attempt or
    an answer that does not come (a partitioned network), and the pool on a free connection. Operator
    commands (migrate, seed) pass None: a bulk seed legitimately runs for minutes."""
    # JIT compilation pays off for long analytical queries; for ours it costs up to seconds per
    # statement whenever the planner's estimates run high (the benchmark showed 1.7 s), so it is off.
    server_settings = {"jit": "off"}
    connect_args: dict[str, object] = {"timeout": CONNECT_TIMEOUT_SECONDS, "server_settings": server_settings}
    pool_timeout = 30.0
    if statement_timeout is not None:
        server_settings["statement_timeout"] = str(round(statement_timeout * 1000))
        connect_args["timeout"] = min(CONNECT_TIMEOUT_SECONDS, statement_timeout)
        connect_args["command_timeout"] = statement_timeout + COMMAND_TIMEOUT_SLACK_SECONDS
        pool_timeout = statement_timeout
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(async_url(url)).set(drivername="postgresql").render_as_string(hide_password=True)
