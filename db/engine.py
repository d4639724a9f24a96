"""Database URLs and engines."""

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

CONNECT_TIMEOUT_SECONDS = 10


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


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        # JIT compilation pays off for long analytical queries; for ours it costs up to seconds per
        # statement whenever the planner's estimates run high (the benchmark showed 1.7 s), so it is off.
        connect_args={"timeout": CONNECT_TIMEOUT_SECONDS, "server_settings": {"jit": "off"}},
    )


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(async_url(url)).set(drivername="postgresql").render_as_string(hide_password=True)
