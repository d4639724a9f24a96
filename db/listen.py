"""A LISTEN connection kept open: one dedicated asyncpg connection per channel and process, reconnected
with backoff when it drops (a database restart, a network cut), and told when it is back so that the
listener can make up for notifications it may have missed while away."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

log = logging.getLogger("pipecast.listen")

BACKOFF_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0)
CHECK_SECONDS = 5.0  # a dropped connection is noticed by its termination callback, or by this poll


async def listen_forever(
    dsn: str,
    channel: str,
    on_notify: Callable[[str], None],
    on_connected: Callable[[datetime | None], Awaitable[None]],
    *,
    name: str,
) -> None:
    """Run until cancelled. `on_notify(payload)` for each notification; `on_connected(alive_until)` once
    the channel is listened to: None the first time, after a loss the last moment the previous connection
    was known to be alive (notifications sent since then were not received). When `on_connected` fails
    (the database is barely back), the connection is dropped and the whole is tried again."""
    attempt = 0
    alive_until: datetime | None = None
    while True:
        try:
            connection = await asyncpg.connect(dsn, timeout=10)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            delay = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
            attempt += 1
            log.warning("%s cannot connect; retrying in %.2f s", name, delay)
            await asyncio.sleep(delay)
            continue
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _, event=closed: event.set())
        try:
            await connection.add_listener(channel, lambda *args: on_notify(args[3]))
            listening_since = datetime.now(UTC)
            try:
                await on_connected(alive_until)
            except Exception as exc:
                log.warning("%s could not catch up (%s); reconnecting", name, type(exc).__name__)
                await asyncio.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
                attempt += 1
                continue
            attempt = 0
            alive_until = listening_since
            while not closed.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), timeout=CHECK_SECONDS)
                if not closed.is_set() and connection.is_closed():
                    closed.set()
                if not closed.is_set():
                    alive_until = datetime.now(UTC)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning("%s lost its connection; reconnecting", name)
        finally:
            with contextlib.suppress(Exception):
                await connection.close(timeout=1)
