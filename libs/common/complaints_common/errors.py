"""Errors that are safe to show, and which failures are passing ones.

Shared by the consumer loop (dead-letter headers, retry decisions) and the HTTP error handler.
"""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from complaints_common.events.envelope import MalformedEvent


class DomainError(Exception):
    """An error whose message is safe to log and to put in a dead-letter header (no personal data)."""


# SQLSTATE classes that say "try again later", not "this message is bad": connection exceptions,
# insufficient resources, operator intervention (shutdown, starting up), serialization failures,
# and the session timeouts (complaints_common.db): a statement cut short by statement_timeout
# (57014), a lock wait by lock_timeout (55P03), a session ended by idle_in_transaction_session_timeout
# (25P03). A slow database is an outage to wait out, not a bad message.
TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P", "40001", "40P01", "57014", "55P03", "25P03")


# The kinds of error a restarting database or broker raises; `is_transient` tells which of them are
# passing. The API answers these itself, and the relay waits them out.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    PoolTimeoutError,
    KafkaError,
    DBAPIError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def is_transient(exc: BaseException) -> bool:
    """True for infrastructure failures that must never dead-letter a good message."""
    if isinstance(exc, OSError | TimeoutError | PoolTimeoutError | KafkaError):
        return True
    # The driver's own errors, from the statements sent to it directly (inbox, outbox).
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError):
        return True  # connection closed, or in a state only a new connection fixes
    if isinstance(exc, asyncpg.PostgresError):
        return (getattr(exc, "sqlstate", None) or "").startswith(TRANSIENT_SQLSTATE_PREFIXES)
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        cause = exc.orig.__cause__ if exc.orig is not None else None
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(cause, "sqlstate", None) or ""
        return sqlstate.startswith(TRANSIENT_SQLSTATE_PREFIXES) or isinstance(cause, OSError)
    return False


def safe_error(exc: BaseException) -> str:
    """Describe an error without its message where that could carry personal data (SQL parameters)."""
    if isinstance(exc, DomainError | MalformedEvent):
        return f"{type(exc).__name__}: {exc}"[:1000]
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        orig = exc.orig
        return f"{type(exc).__name__}({type(orig).__name__}, sqlstate={getattr(orig, 'sqlstate', '?')})"
    if isinstance(exc, asyncpg.PostgresError):
        return f"{type(exc).__name__}(sqlstate={getattr(exc, 'sqlstate', '?')})"
    return type(exc).__name__
