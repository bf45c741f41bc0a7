"""The async SQLAlchemy engine of one service, bound to the service's own schema.

Work runs on a Core `AsyncConnection` in one transaction (`Database.transaction`), not on an ORM
session: the services use Core tables only, and the session's unit-of-work bookkeeping cost
~100 µs of CPU per transaction and per statement for nothing (docs/benchmarks/limits.md).
The hottest statements (inbox claim, outbox insert) go to the driver directly (`driver`); work
that writes in one statement may skip BEGIN and COMMIT altogether (`Database.autocommit`).

Every connection, pooled or raw (relay, delivery loop, republish, migrations), is opened with the
same `ConnectOptions`: TLS (libpq's `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, from the URL or
the settings) and the session timeouts. SQLAlchemy's asyncpg dialect would hand `sslmode` to
asyncpg as an unknown keyword, and asyncpg would send SQLAlchemy's `ssl` to the server as a setting,
so the URL's TLS parameters are taken out of it here and given to asyncpg as an SSL context.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import MetaData, make_url, text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from complaints_common.settings import ServiceSettings

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


# The URL query parameters that say how to do TLS: libpq's, and SQLAlchemy's own `ssl`.
TLS_PARAMETERS = ("sslmode", "ssl", "sslrootcert", "sslcert", "sslkey")
# libpq's modes that verify the server's certificate (verify-full also its host name).
VERIFYING_MODES = ("verify-ca", "verify-full")
# SQLAlchemy's `?ssl=` took asyncpg's values, booleans among them.
_SSL_ALIASES = {"true": "require", "false": "disable"}


@dataclass(frozen=True)
class ConnectOptions:
    """How to open a connection: the DSN without its TLS parameters, what asyncpg's `ssl` takes,
    and the session's settings (the timeouts)."""

    dsn: str  # postgresql://user:password@host:port/db (asyncpg's form)
    ssl: ssl.SSLContext | str | None = None
    server_settings: dict[str, str] = field(default_factory=dict)

    @property
    def engine_url(self) -> str:
        return self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)

    @property
    def connect_args(self) -> dict[str, Any]:
        """What SQLAlchemy's asyncpg dialect passes on to `asyncpg.connect`."""
        args: dict[str, Any] = {"server_settings": self.server_settings}
        if self.ssl is not None:
            args["ssl"] = self.ssl
        return args

    async def connect(self, **kwargs: Any) -> asyncpg.Connection:
        """A raw asyncpg connection (the relay's, a delivery loop's) with the same TLS and timeouts."""
        return await asyncpg.connect(self.dsn, **self.connect_args, **kwargs)


def connect_options(
    url: str, settings: ServiceSettings | None = None, *, timeouts: bool = True
) -> ConnectOptions:
    """The options for `url` (a SQLAlchemy or libpq URL): the URL's TLS parameters win over the
    settings'; `timeouts` off for migrations, whose statements may rightly run long."""
    parsed = make_url(url)
    query = {k: v if isinstance(v, str) else v[-1] for k, v in parsed.query.items()}
    # The fields' defaults, not the environment's unprefixed variables, when no settings are given.
    defaults = settings or ServiceSettings.model_construct()
    mode = query.get("sslmode") or query.get("ssl") or defaults.database_sslmode
    mode = _SSL_ALIASES.get(mode.lower(), mode) if mode else None
    rootcert = query.get("sslrootcert") or defaults.database_sslrootcert
    cert = query.get("sslcert") or defaults.database_sslcert
    key = query.get("sslkey") or defaults.database_sslkey
    rest = {k: v for k, v in parsed.query.items() if k not in TLS_PARAMETERS}
    dsn = parsed.set(drivername="postgresql", query=rest).render_as_string(hide_password=False)
    server_settings: dict[str, str] = {}
    if timeouts:
        server_settings = {
            "statement_timeout": str(defaults.database_statement_timeout_ms),
            "lock_timeout": str(defaults.database_lock_timeout_ms),
            "idle_in_transaction_session_timeout": str(defaults.database_idle_in_transaction_timeout_ms),
        }
    return ConnectOptions(dsn, _tls(mode, rootcert, cert, key), server_settings)


def _tls(
    mode: str | None, rootcert: str | Path | None, cert: str | Path | None, key: str | Path | None
) -> ssl.SSLContext | str | None:
    if mode is None or mode not in VERIFYING_MODES:
        # disable/allow/prefer/require (no verification), or None: asyncpg's default (prefer, or
        # PGSSLMODE). Only the verifying modes are worth having in production.
        return mode
    context = ssl.create_default_context(cafile=str(rootcert) if rootcert else None)
    context.check_hostname = mode == "verify-full"
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    return context


async def connect_raw(settings: ServiceSettings) -> asyncpg.Connection:
    """A connection outside the pool (relay, delivery loop, republish): same TLS, same timeouts."""
    return await connect_options(settings.database_dsn, settings).connect()


# What leaves a driver connection gone, or busy with a statement it was cancelled in: not to be
# handed out again (a server's error, asyncpg.PostgresError, leaves it ready for the next).
BROKEN_CONNECTION = (
    asyncio.CancelledError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)


class Database:
    """One engine per process; transactions are short and commit explicitly."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 0,
        settings: ServiceSettings | None = None,
    ) -> None:
        verify_driver_adapter()
        self.url = url
        options = connect_options(url, settings)
        # No pre-ping: it costs a round trip per transaction (measured: 5-14% of a service's CPU).
        # A connection that died with a database restart fails its first statement instead; the
        # pool is then invalidated, consumers retry that as a transient error and the API answers 503.
        # hide_parameters: an error's message (logged by uvicorn and our loops) must never carry
        # the statement's values, which hold customers' personal data.
        self.engine: AsyncEngine = create_async_engine(
            options.engine_url,
            connect_args=options.connect_args,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_recycle=3600,
            hide_parameters=True,
        )

    @classmethod
    def for_service(cls, settings: ServiceSettings) -> Database:
        return cls(
            settings.database_dsn,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            settings=settings,
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

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled driver connection outside any transaction: each statement commits by itself.

        For work whose writes are one statement (all of it or none of it, as one transaction
        would be) and whose reads need no snapshot shared with them: it saves the BEGIN and
        COMMIT round trips. A connection that died or was cut off mid-statement is dropped from
        the pool, as SQLAlchemy does on its own path."""
        async with self.engine.connect() as session:
            raw = await session.get_raw_connection()
            connection: asyncpg.Connection = raw.driver_connection
            try:
                yield connection
            except BaseException as exc:
                if connection.is_closed() or isinstance(exc, BROKEN_CONNECTION):
                    await session.invalidate()
                raise

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
