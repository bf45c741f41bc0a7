"""Running one service in the test process, on real PostgreSQL and Kafka.

    async with running_service(SERVICE, settings) as (app, client):
        response = await client.post("/v1/complaints", json=...)

The schema is migrated first (unless the database is one the session's conftest copied from its
migrated template, see `at_head`); the app's lifespan starts the producer, relay, consumers and loops
(mode SERVE), and once /readyz says ready (consumers hold their partitions) `client` talks to the app
in-process with every scope granted (an API key of tenant `crm-test`); `bearer(...)` makes the
headers of a person's token from the test issuer.
"""

from __future__ import annotations

import asyncio
import functools
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy import event as sqlalchemy_events
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.api import hash_key
from complaints_common.consumer import Handler, apply_once, run_handler
from complaints_common.db import Database, driver
from complaints_common.events.envelope import Event
from complaints_common.runtime import Mode, Runtime, ServiceDefinition, run_migrations
from complaints_common.settings import ApiKey, ServiceSettings
from complaints_devstack.issuer import DevIssuer
from complaints_devstack.launcher import DEV_API_SCOPES

TEST_API_KEY = "test-key-all-scopes"
ALL_SCOPES = list(DEV_API_SCOPES)
# Fast Kafka timeouts suited to the embedded broker, and a short outbox poll; the e2e suite sets
# the same as environment variables.
FAST_SETTINGS: dict[str, Any] = {
    "kafka_session_timeout_ms": 2000,
    "kafka_heartbeat_interval_ms": 300,
    "kafka_request_timeout_ms": 5000,
    "outbox_poll_interval_s": 0.5,
}
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
READY_TIMEOUT_S = 30.0
# The databases the session's conftest copied from its migrated template (every service's schema at
# head, built by the services' own `migrate`): a service started on one has nothing to migrate, and
# alembic took about 0.1 s a start to find that out, some hundreds of starts a run.
_at_head: set[str] = set()


def at_head(database_url: str) -> str:
    """Note that `database_url` has every service's schema at head already; returns it."""
    _at_head.add(database_url)
    return database_url


async def _migrate(definition: ServiceDefinition[Any], settings: ServiceSettings) -> None:
    """Migrate the service's schema, unless its database is known to be at head."""
    if settings.migration_database_url is None and settings.database_dsn in _at_head:
        return
    # Alembic's env runs its own event loop, so migrate from a worker thread.
    await asyncio.to_thread(run_migrations, definition, settings)


@functools.cache
def local_issuer() -> DevIssuer:
    """One local token issuer per test process (its key in a temporary directory)."""
    return DevIssuer(Path(tempfile.mkdtemp(prefix="complaints-issuer-")))


def bearer(tenant: str, sub: str, role: str | None = "agent", **claims: Any) -> dict[str, str]:
    """Headers carrying a token of the test issuer for `sub` acting in `role` at `tenant`."""
    return {"Authorization": f"Bearer {local_issuer().token(tenant, sub, role, **claims)}"}


def test_api_keys(
    key: str = TEST_API_KEY, scopes: list[str] | None = None, client: str = "crm-test"
) -> list[ApiKey]:
    return [ApiKey(client=client, sha256=hash_key(key), scopes=scopes or ALL_SCOPES)]


def test_settings(
    settings_cls: type[SettingsT],
    database_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    **overrides: Any,
) -> SettingsT:
    """Settings for a service under test: fast Kafka timeouts suited to the embedded broker."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka_bootstrap,
        "topic_prefix": topic_prefix,
        "api_keys": test_api_keys(),
        "auth": local_issuer().settings(),
        **FAST_SETTINGS,
        **overrides,
    }
    return settings_cls.model_validate(values)


@asynccontextmanager
async def running_service(
    definition: ServiceDefinition[Any],
    settings: ServiceSettings,
    mode: Mode = Mode.SERVE,
    key: str = TEST_API_KEY,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    await _migrate(definition, settings)
    app = definition.create_app(settings, mode)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers={"X-API-Key": key}
        ) as client:
            await _until_ready(client)
            yield app, client


async def _until_ready(client: httpx.AsyncClient, timeout_s: float = READY_TIMEOUT_S) -> None:
    """As the launcher does: a worker takes messages at once only when /readyz says so."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (response := await client.get("/readyz")).status_code != 200:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not ready within {timeout_s} s: {response.text}")
        await asyncio.sleep(0.05)


class ManualClock:
    """A clock that stands still until moved; `tick` advances it on every reading."""

    def __init__(self, now: datetime, tick: timedelta = timedelta(0)) -> None:
        self.now = now
        self.tick = tick

    def __call__(self) -> datetime:
        now = self.now
        self.now += self.tick
        return now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


async def migrated_runtime(definition: ServiceDefinition[Any], settings: ServiceSettings) -> Runtime:
    """A service's database and outbox, migrated, with no broker (enough to handle events and fire
    timers); the caller disposes of `runtime.db`."""
    await _migrate(definition, settings)
    return definition.runtime(settings)


def _handler_of(definition: ServiceDefinition[Any], runtime: Runtime, event: Event[Any]) -> Handler[Any]:
    """The service's handler for the event's type, with its dependencies built from `runtime` as its
    process builds them."""
    subscriptions = definition.all_subscriptions(definition.dependencies(runtime))
    return {s.contract.ce_type: s.handler for s in subscriptions}[event.contract.ce_type]


def delivery(definition: ServiceDefinition[Any]) -> Callable[[Runtime, Event[Any]], Awaitable[bool]]:
    """`deliver(runtime, event)`: hands an event to the service's handler for its type as the
    consumer would, inbox and effects in one transaction, without a broker; False for a redelivery.
    The service's dependencies are built from `runtime` as its process builds them."""

    async def deliver(runtime: Runtime, event: Event[Any]) -> bool:
        handler = _handler_of(definition, runtime, event)
        topic = event.contract.topic.name
        return await apply_once(runtime.db, runtime.inbox, definition.name, topic, event, handler)

    return deliver


def _introspection(query: str) -> bool:
    """asyncpg's look-up of a type it has not met on this connection yet (once per connection, not
    the operation's): the type tree, with JIT turned off and back around it."""
    return "typeinfo_tree" in query or "'jit'" in query


def _recorders(sent: list[str]) -> tuple[Callable[..., None], Callable[[Any], None]]:
    """SQLAlchemy's `before_cursor_execute` listener and asyncpg's query logger, each writing down
    the statements it sees in `sent` (one per round trip), asyncpg's type introspection left out."""

    def through_sqlalchemy(*args: Any) -> None:
        statement, executemany = args[2], args[5]  # (connection, cursor, statement, ..., executemany)
        if not executemany:  # the adapter sends an executemany to the driver: counted there
            sent.append(statement)

    def to_driver(query: Any) -> None:
        if not _introspection(query.query):
            sent.append(query.query)

    return through_sqlalchemy, to_driver


@asynccontextmanager
async def statements_sent(session: AsyncConnection) -> AsyncIterator[list[str]]:
    """The statements `session` sends inside the block, through SQLAlchemy or straight to the driver
    (one per round trip): for "N statements per operation"."""
    sent: list[str] = []
    through_sqlalchemy, to_driver = _recorders(sent)
    connection = await driver(session)
    sqlalchemy_connection = session.sync_connection
    assert sqlalchemy_connection is not None
    sqlalchemy_events.listen(sqlalchemy_connection, "before_cursor_execute", through_sqlalchemy)
    connection.add_query_logger(to_driver)
    try:
        yield sent
    finally:
        connection.remove_query_logger(to_driver)
        sqlalchemy_events.remove(sqlalchemy_connection, "before_cursor_execute", through_sqlalchemy)


@asynccontextmanager
async def counted_database(url: str) -> AsyncIterator[tuple[Database, list[str]]]:
    """A database of one pooled connection and the statements it sends, BEGIN and COMMIT included:
    for an operation that opens its own connections (intake's filing). The driver's logger is
    called soon, not at once: let the loop run (`await asyncio.sleep(0)`) before reading. A
    statement prepared on first use costs a round trip more: warm up first."""
    db = Database(url, pool_size=1)
    sent: list[str] = []
    through_sqlalchemy, to_driver = _recorders(sent)
    sqlalchemy_events.listen(db.engine.sync_engine, "before_cursor_execute", through_sqlalchemy)
    try:
        async with db.engine.connect() as session:
            connection: asyncpg.Connection = (await session.get_raw_connection()).driver_connection
            connection.add_query_logger(to_driver)
        yield db, sent
    finally:
        await db.dispose()


def counted_delivery(
    definition: ServiceDefinition[Any],
) -> Callable[[Runtime, Event[Any]], Awaitable[list[str]]]:
    """`deliver(runtime, event)` as `delivery`'s, returning the statements the handler sent; the
    inbox claim, BEGIN and COMMIT left out: they are the consumer's, once per batch."""

    async def deliver(runtime: Runtime, event: Event[Any]) -> list[str]:
        handler = _handler_of(definition, runtime, event)
        async with runtime.db.transaction() as session:
            assert await runtime.inbox.claim(session, definition.name, event.id, event.contract.topic.name)
            async with statements_sent(session) as sent:
                await run_handler(session, definition.name, event, handler)
        return sent

    return deliver
