"""Database faults a client can act on, told apart from bugs.

An outage (refused or lost connections, a server shutting down or starting up, a pool with no free
connection) is SERVICE_UNAVAILABLE: retry shortly. A statement cancelled by the statement timeout is
TIMEOUT: the request was too heavy for the deadline. Everything else is a bug and stays masked.
"""

from typing import Final, Literal

import asyncpg
from sqlalchemy import exc as sa_exc

UNAVAILABLE: Final = "SERVICE_UNAVAILABLE"
TIMEOUT: Final = "TIMEOUT"
Fault = Literal["SERVICE_UNAVAILABLE", "TIMEOUT"]

# SQLSTATE class 08 (connection exception); 57P01–57P03 admin/crash shutdown, cannot connect now;
# 53300 too many connections.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")
_TIMEOUT_STATES = ("57014",)  # query_canceled: statement_timeout


def database_fault(error: BaseException | None) -> Fault | None:
    """The fault behind `error` (following SQLAlchemy's `orig` and the cause chain), or None."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        fault = _fault_of(error)
        if fault is not None:
            return fault
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
    return None


def _fault_of(error: BaseException) -> Fault | None:
    state = getattr(error, "sqlstate", None)
    if isinstance(state, str) and state.startswith(_TIMEOUT_STATES):
        return TIMEOUT
    unavailable = (
        (isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES))
        or isinstance(error, sa_exc.TimeoutError)  # no pooled connection came free in time
        or (isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated)
        or isinstance(error, OSError | TimeoutError)  # refused, reset or unanswered connections
        # asyncpg's "connection is closed"; its other interface errors are bugs
        or (isinstance(error, asyncpg.InterfaceError) and "closed" in str(error))
    )
    return UNAVAILABLE if unavailable else None


MESSAGES: dict[Fault, str] = {
    UNAVAILABLE: "the database is unavailable; retry in a few seconds",
    TIMEOUT: "the database did not finish within the statement timeout; ask for less or retry later",
}
