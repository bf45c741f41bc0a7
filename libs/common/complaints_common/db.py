"""The async SQLAlchemy engine and sessions of one service, bound to the service's own schema."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import MetaData, event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


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


def after_commit(session: AsyncSession, action: Callable[[], None]) -> None:
    """Run `action` once the session's transaction commits, never when it rolls back or is retried:
    for side effects outside the database (metrics, logs) that must not count what did not happen."""
    event.listen(session.sync_session, "after_commit", lambda _: action(), once=True)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The plain libpq-style DSN asyncpg wants, from a SQLAlchemy URL."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Database:
    """One engine per process; sessions are short and commit explicitly."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        # No pre-ping: it costs a round trip per transaction (measured: 5-14% of a service's CPU).
        # A connection that died with a database restart fails its first statement instead; the
        # pool is then invalidated, consumers retry that as a transient error and the API answers 503.
        # hide_parameters: an error's message (logged by uvicorn and our loops) must never carry
        # the statement's values, which hold customers' personal data.
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600, hide_parameters=True
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
