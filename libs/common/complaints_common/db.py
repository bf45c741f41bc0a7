"""The async SQLAlchemy engine of one service, bound to the service's own schema.

Work runs on a Core `AsyncConnection` in one transaction (`Database.transaction`), not on an ORM
session: the services use Core tables only, and the session's unit-of-work bookkeeping cost
~100 µs of CPU per transaction and per statement for nothing (docs/benchmarks/limits.md).
The hottest statements (inbox claim, outbox insert) go to the driver directly (`driver`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import MetaData, text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

# The actions each open transaction runs once it has committed, by the id of its connection (not in
# Connection.info: reading that after the database dropped the connection tries to reconnect, which
# fails outside SQLAlchemy's greenlet, seen in `make chaos`). Removed when the transaction ends.
_AFTER_COMMIT: dict[int, list[Callable[[], None]]] = {}


def schema_metadata(schema: str) -> MetaData:
    """Metadata whose tables all live in the service's schema, with stable constraint names."""
    return MetaData(
        schema=schema,
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        },
    )


class DriverAdapterChanged(RuntimeError):
    """SQLAlchemy's asyncpg adapter no longer has the internals `driver` relies on."""


def verify_driver_adapter(adapter: type = AsyncAdapt_asyncpg_connection) -> None:
    """Fail at start-up, loudly, if the adapter's internals are not what `driver` expects.

    `driver` reads the adapter's `_transaction` slot and calls its `_start_transaction` (private
    SQLAlchemy API, checked against the version pinned in uv.lock). Were an upgrade to rename them,
    a silent fallback would send the outbox and inbox statements outside the transaction
    (autocommitted, kept on rollback): nothing lost would become everything doubled.
    """
    missing = [
        name
        for name, present in (
            ("_transaction", "_transaction" in getattr(adapter, "__slots__", ())),
            ("_start_transaction", callable(getattr(adapter, "_start_transaction", None))),
        )
        if not present
    ]
    if missing:
        raise DriverAdapterChanged(
            f"{adapter.__qualname__} lacks {', '.join(missing)}: this SQLAlchemy version is not the "
            "one complaints_common.db.driver was written for (see uv.lock)"
        )


def after_commit(session: AsyncConnection, action: Callable[[], None]) -> None:
    """Run `action` once the transaction commits, never when it rolls back or is retried: for side
    effects outside the database (metrics, logs) that must not count what did not happen."""
    _AFTER_COMMIT[id(session)].append(action)


async def driver(session: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under `session`, inside its transaction: for hot statements that
    SQLAlchemy's execution path would cost ~3x the CPU of the statement itself.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its own first statement; a statement
    sent to the driver first would run outside the transaction (autocommitted, kept on rollback).
    So the BEGIN is sent here as the adapter itself does it before every statement.
    """
    raw = await session.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    if adapter._transaction is None:  # the internals are checked at start-up (verify_driver_adapter)
        try:
            await adapter._start_transaction()
        except Exception:
            # Let SQLAlchemy meet the failure on its own path: it wraps it (DBAPIError, transient
            # for a dropped connection) and invalidates the dead connection; if the BEGIN passes
            # this time, the transaction is open.
            await session.exec_driver_sql("SELECT 1")
    connection: asyncpg.Connection = raw.driver_connection
    return connection


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The plain libpq-style DSN asyncpg wants, from a SQLAlchemy URL."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Database:
    """One engine per process; transactions are short and commit explicitly."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        verify_driver_adapter()
        self.url = url
        # No pre-ping: it costs a round trip per transaction (measured: 5-14% of a service's CPU).
        # A connection that died with a database restart fails its first statement instead; the
        # pool is then invalidated, consumers retry that as a transient error and the API answers 503.
        # hide_parameters: an error's message (logged by uvicorn and our loops) must never carry
        # the statement's values, which hold customers' personal data.
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600, hide_parameters=True
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed on success, rolled back on error; then
        the `after_commit` actions run (only after a commit)."""
        async with self.engine.connect() as session:
            actions: list[Callable[[], None]] = []
            _AFTER_COMMIT[id(session)] = actions
            try:
                async with session.begin():
                    yield session
            finally:
                del _AFTER_COMMIT[id(session)]
        for action in actions:
            action()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
