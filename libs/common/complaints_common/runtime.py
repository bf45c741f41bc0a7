"""Wiring shared by the four services: one definition per service, one lifecycle, one CLI.

`complaints-<svc> api` serves the REST API; `worker` runs the consumers, the outbox relay and any
background loops (it still serves /healthz, /readyz and /metrics); `serve` does both in one process
(the laptop stack); `migrate` upgrades the service's schema; `republish` re-sends the outbox since a
point in time.

The API process never touches Kafka: its writes go to the outbox, so it starts and stays ready with
its database alone, and accepts complaints through a broker outage. A worker connects its producer in
the background (retrying while the broker is away, never failing its start-up, so a restarting pod
does not crash-loop) and is ready once its producer is connected and its consumers hold partitions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, FastAPI, Request
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from sqlalchemy import MetaData, Table, make_url

from complaints_common.api import NotReady, ReadinessCheck, install_common
from complaints_common.consumer import ConsumerRunner, Subscription
from complaints_common.db import Database
from complaints_common.dlq import replay_command
from complaints_common.errors import is_transient, safe_error
from complaints_common.events.envelope import API_KEY_CHANGED_V1, EventContract
from complaints_common.kafka import new_producer, probe_broker
from complaints_common.keys import key_loader, key_subscription
from complaints_common.loops import BackgroundLoop, sleep_or_stop, supervise
from complaints_common.messaging import Inbox, Outbox
from complaints_common.relay import OutboxRelay, backlog_gauges, republish_since
from complaints_common.settings import ServiceSettings
from complaints_common.telemetry import setup_logging, setup_telemetry, shutdown_telemetry
from complaints_common.text_input import refuse_control_characters

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 10.0
PRODUCER_RETRY_S = 1.0
PRODUCER_RETRY_MAX_S = 15.0
# How long the start-up step (ServiceDefinition.start) waits out an unreachable database before the
# process gives up (and its orchestrator restarts it).
START_RETRY_S = 1.0
START_DEADLINE_S = 60.0

DependenciesT = TypeVar("DependenciesT")


class Mode(StrEnum):
    API = "api"
    WORKER = "worker"
    SERVE = "serve"

    @property
    def runs_api(self) -> bool:
        return self is not Mode.WORKER

    @property
    def runs_worker(self) -> bool:
        return self is not Mode.API


@dataclass
class Runtime:
    """The process-wide resources a service's routes, handlers and loops use."""

    settings: ServiceSettings
    metadata: MetaData
    db: Database
    outbox: Outbox
    inbox: Inbox
    # What a worker waits for before it is ready: each says why not yet, or None (consumers joined
    # with partitions, the relay leading or standing by). Filled as the worker's loops are built.
    worker_probes: list[Callable[[], str | None]] = field(default_factory=list)
    _producer: AIOKafkaProducer | None = None

    @property
    def producer(self) -> AIOKafkaProducer:
        """Connected by a worker's start (`connect_producer`): aiokafka clients must be created
        inside the event loop."""
        if self._producer is None:
            raise RuntimeError("the Kafka producer is not connected (yet)")
        return self._producer

    async def connect_producer(self, stop: asyncio.Event) -> None:
        """Connect the producer, retrying while the broker is unreachable, until connected or `stop`.

        The producer is made only once a broker answers: its settings follow the broker's kind
        (Apache Kafka or Tansu), which cannot be read while nothing answers."""
        pause = PRODUCER_RETRY_S
        while self._producer is None and not stop.is_set():
            profile = await probe_broker(self.settings.kafka_bootstrap_servers, self.settings.kafka_security)
            error: Exception | None = None
            if profile is not None:
                producer = await new_producer(self.settings, profile)
                try:
                    await producer.start()
                except (KafkaError, OSError) as exc:
                    await _stop_quietly(producer)
                    error = exc
                else:
                    self._producer = producer
                    return
            log.warning("the broker does not answer; retrying", extra={"error": repr(error)})
            await sleep_or_stop(stop, pause)
            pause = min(pause * 2, PRODUCER_RETRY_MAX_S)

    async def renew_producer(self, stop: asyncio.Event) -> AIOKafkaProducer:
        """Replace a producer that can no longer send (see relay.PRODUCER_BROKEN) with a new one."""
        broken, self._producer = self._producer, None
        if broken is not None:
            await _stop_quietly(broken)
        await self.connect_producer(stop)
        return self.producer

    def producer_not_ready(self) -> str | None:
        return None if self._producer is not None else "the Kafka producer has not connected yet"

    async def workers_ready(self) -> None:
        """A readiness check: raises NotReady naming what the worker still waits for."""
        waiting = [reason for reason in (probe() for probe in self.worker_probes) if reason]
        if not self.worker_probes:
            waiting = ["the worker's loops have not started"]
        if waiting:
            raise NotReady("; ".join(waiting))

    async def stop(self) -> None:
        if self._producer is not None:
            await _stop_quietly(self._producer)
        await self.db.dispose()

    @property
    def schema(self) -> str:
        assert self.metadata.schema
        return self.metadata.schema


@dataclass(frozen=True)
class ServiceDefinition(Generic[DependenciesT]):
    """What makes one service: its settings, tables, routes, subscriptions and background loops.

    `dependencies` builds the service's typed dependencies object (its settings, repositories, use
    cases) once per process from the runtime; routes receive it through `dependencies_of`, and the
    subscriptions and background loops are made from it. `start` is the explicit start-up step that
    installs what the service needs in its database (a policy, templates) before it serves.

    `consumes` and `publishes` declare its event contracts without a running runtime: the event
    catalog, the AsyncAPI document and the README's table are generated from them. They are held to
    the code: the worker refuses to start when its subscriptions differ from `consumes`, and the
    outbox refuses an event whose contract is not in `publishes`.
    """

    name: str
    title: str
    description: str
    settings_factory: Callable[[], ServiceSettings]
    metadata: MetaData
    migrations: Path
    dependencies: Callable[[Runtime], DependenciesT]
    start: Callable[[DependenciesT], Awaitable[None]] | None = None
    consumes: tuple[EventContract[Any], ...] = ()
    publishes: tuple[EventContract[Any], ...] = ()
    routers: Callable[[DependenciesT], Sequence[APIRouter]] = lambda _: ()
    subscriptions: Callable[[DependenciesT], Sequence[Subscription[Any]]] = lambda _: ()
    background: Callable[[DependenciesT], Sequence[BackgroundLoop]] = lambda _: ()
    version: str = "0.1.0"
    # Intake issues the API keys (its admin API); every other service keeps a copy of them from
    # the `platform.api-keys` topic in its own `api_keys` table.
    issues_keys: bool = False
    openapi_tags: list[dict[str, Any]] = field(default_factory=list)
    # What the service pushes to its clients (FastAPI's `webhooks`): documented, never served.
    webhooks: Callable[[], APIRouter] | None = None
    # PostgreSQL connections the background loops hold outside the pool (notifications' delivery
    # loop keeps one for LISTEN and its liveness lock); the relay's own is counted on top.
    loop_connections: int = 0

    def runtime(self, settings: ServiceSettings) -> Runtime:
        return Runtime(
            settings=settings,
            metadata=self.metadata,
            db=Database.for_service(settings),
            outbox=Outbox(self.metadata, self.contracts_published()),
            inbox=Inbox(self.metadata),
        )

    def connection_budget(self, settings: ServiceSettings, mode: Mode) -> int:
        """The most PostgreSQL connections one process of the service opens: its pool with the
        whole overflow in use, and in a worker the relay's connection and the loops' own."""
        pool = settings.database_pool_size + settings.database_max_overflow
        return pool + (1 + self.loop_connections if mode.runs_worker else 0)

    def all_subscriptions(self, dependencies: DependenciesT) -> list[Subscription[Any]]:
        """The service's own subscriptions, and the API keys' for a service that keeps a copy."""
        subscriptions = list(self.subscriptions(dependencies))
        keys = self._key_table()
        if keys is not None and not self.issues_keys:
            subscriptions.append(key_subscription(keys))
        return subscriptions

    def worker_loops(
        self, runtime: Runtime, dependencies: DependenciesT, stop: asyncio.Event
    ) -> list[BackgroundLoop]:
        runner: ConsumerRunner | None = None

        async def renew_producer() -> AIOKafkaProducer:
            producer = await runtime.renew_producer(stop)
            if runner is not None:
                runner.producer = producer  # its dead letters go through the new one too
            return producer

        relay = OutboxRelay(runtime.settings, runtime.schema, runtime.producer, renew_producer)
        loops: list[BackgroundLoop] = [relay.run]
        probes = [relay.not_ready]
        subscriptions = self.checked_subscriptions(dependencies)
        if subscriptions:
            runner = ConsumerRunner(
                group=self.name,
                subscriptions=subscriptions,
                settings=runtime.settings,
                db=runtime.db,
                inbox=runtime.inbox,
                producer=runtime.producer,
            )
            loops.append(runner.run)
            probes.append(runner.not_ready)
        runtime.worker_probes[:] = [runtime.producer_not_ready, *probes]
        loops.extend(self.background(dependencies))
        return loops

    def contracts_consumed(self) -> tuple[EventContract[Any], ...]:
        """What the service declares it consumes, and the API keys' events for a service that keeps a
        copy of them: the receive operations of the AsyncAPI document."""
        keeps_keys = self._key_table() is not None and not self.issues_keys
        return (*self.consumes, API_KEY_CHANGED_V1) if keeps_keys else self.consumes

    def contracts_published(self) -> tuple[EventContract[Any], ...]:
        """What the service declares it publishes (intake also the API keys it issues)."""
        return (*self.publishes, API_KEY_CHANGED_V1) if self.issues_keys else self.publishes

    def checked_subscriptions(self, dependencies: DependenciesT) -> Sequence[Subscription[Any]]:
        """Every subscription (the API keys' included), which must be exactly what the service
        declares it consumes (the published contract)."""
        subscriptions = self.all_subscriptions(dependencies)
        running = sorted(s.contract.ce_type for s in subscriptions)
        declared = sorted(c.ce_type for c in self.contracts_consumed())
        if running != declared:
            raise RuntimeError(
                f"{self.name} subscribes to {running} but declares it consumes {declared}: "
                "keep ServiceDefinition.consumes and the subscriptions in step"
            )
        return subscriptions

    def create_app(self, settings: ServiceSettings | None = None, mode: Mode = Mode.API) -> FastAPI:
        settings = settings or self.settings_factory()
        runtime = self.runtime(settings)
        dependencies = self.dependencies(runtime)
        app = FastAPI(
            title=self.title,
            description=self.description,
            version=self.version,
            lifespan=lambda app: self._lifespan(app, runtime, dependencies, mode),
            openapi_tags=self.openapi_tags,
            license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
            # Relative: the API is documented wherever it is deployed (behind an ingress, on a laptop).
            servers=[{"url": "/", "description": f"This {self.name} service."}],
        )
        app.state.runtime, app.state.dependencies = runtime, dependencies
        if self.webhooks is not None:
            app.webhooks.include_router(self.webhooks())
        checks: dict[str, ReadinessCheck] = {"database": runtime.db.ping}
        if mode.runs_worker:
            # The API process is ready on its database alone (the outbox holds what the broker
            # cannot take yet); a worker also needs the broker and waits for its loops.
            checks["broker"] = lambda: _broker_ping(runtime)
            checks["worker"] = runtime.workers_ready
        keys = self._key_table()
        install_common(app, settings, checks, key_loader(runtime.db, keys) if keys is not None else None)
        if mode.runs_api:
            for router in self.routers(dependencies):
                app.include_router(router, dependencies=[Depends(refuse_control_characters)])
        # One span per request: the ASGI receive/send sub-spans say nothing and cost CPU.
        FastAPIInstrumentor.instrument_app(
            app, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
        )
        return app

    def _key_table(self) -> Table | None:
        return self.metadata.tables.get(f"{self.metadata.schema}.api_keys")

    @contextlib.asynccontextmanager
    async def _lifespan(
        self, app: FastAPI, runtime: Runtime, dependencies: DependenciesT, mode: Mode
    ) -> AsyncIterator[None]:
        if self.start is not None:
            await _start_up(self.name, self.start, dependencies)
        stop = asyncio.Event()
        # Every process reads the outbox's backlog (an API pod, a standby, a worker still waiting
        # for the broker): whichever replica is scraped tells the truth.
        gauges = backlog_gauges(runtime.db, runtime.schema)
        tasks = [asyncio.create_task(supervise(_loop_name(gauges), gauges, stop))]
        if mode.runs_worker:
            self.checked_subscriptions(dependencies)  # a misdeclared service fails its start, loudly
            runtime.worker_probes[:] = [runtime.producer_not_ready]
            tasks.append(asyncio.create_task(self._run_worker(runtime, dependencies, stop)))
        try:
            yield
        finally:
            stop.set()
            await _finish(tasks)
            await runtime.stop()

    async def _run_worker(self, runtime: Runtime, dependencies: DependenciesT, stop: asyncio.Event) -> None:
        """Connect the producer (however long the broker is away), then run every loop supervised."""
        await runtime.connect_producer(stop)
        if stop.is_set():
            return
        await asyncio.gather(
            *(
                supervise(_loop_name(loop), loop, stop)
                for loop in self.worker_loops(runtime, dependencies, stop)
            )
        )


async def _start_up(
    name: str, start: Callable[[DependenciesT], Awaitable[None]], dependencies: DependenciesT
) -> None:
    """Run the service's start-up step, waiting out a database that is not there yet (a pod that
    starts beside a restarting PostgreSQL); anything else, or a minute of waiting, fails the start."""
    deadline = asyncio.get_running_loop().time() + START_DEADLINE_S
    while True:
        try:
            await start(dependencies)
            return
        except Exception as exc:
            if not is_transient(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("start-up waits for the database", extra={"service": name, "error": safe_error(exc)})
            await asyncio.sleep(START_RETRY_S)


def dependencies_of(kind: type[DependenciesT]) -> Callable[[Request], Awaitable[DependenciesT]]:
    """A FastAPI dependency handing a route its service's dependencies object (built once at start).

    `Deps = Annotated[CompensationDependencies, Depends(dependencies_of(CompensationDependencies))]`
    lets a module-level route take `deps: Deps`, typed. A coroutine though it never waits: FastAPI
    runs a plain function in its thread pool, a hop per request that cost more than the lookup."""

    async def provide(request: Request) -> DependenciesT:
        dependencies = request.app.state.dependencies
        if not isinstance(dependencies, kind):
            raise TypeError(f"this app's dependencies are {type(dependencies).__name__}, not {kind.__name__}")
        return dependencies

    return provide


def _loop_name(loop: BackgroundLoop) -> str:
    """The loop's owner and method, e.g. OutboxRelay.run: a metrics label without instance ids."""
    return getattr(loop, "__qualname__", type(loop).__name__)


async def _broker_ping(runtime: Runtime) -> None:
    await runtime.producer.client.fetch_all_metadata()


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    """Stopping is best effort: a producer that never connected has nothing to flush."""
    try:
        await asyncio.wait_for(producer.stop(), SHUTDOWN_GRACE_S)
    except Exception as exc:
        log.debug("producer stop failed", extra={"error": repr(exc)})


async def _finish(tasks: list[asyncio.Task[None]]) -> None:
    """Give the loops a grace period to finish their batch, then cancel what is left."""
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            log.error("background loop failed", exc_info=task.exception())


def run_migrations(definition: ServiceDefinition[Any], settings: ServiceSettings) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(definition.migrations))
    # The migrator role, which owns the schema; the services run as database_url's role, which is
    # granted row access only (complaints_common.migrations.runtime_grants).
    migrator = settings.migration_database_url
    config.attributes["database_url"] = migrator.get_secret_value() if migrator else settings.database_dsn
    config.attributes["settings"] = settings
    if migrator is not None:
        runtime_role = make_url(settings.database_dsn).username
        if runtime_role and runtime_role != make_url(migrator.get_secret_value()).username:
            config.attributes["runtime_role"] = runtime_role
    config.attributes["metadata"] = definition.metadata
    command.upgrade(config, "head")


def cli(definition: ServiceDefinition[Any], argv: Sequence[str] | None = None) -> None:
    """The console script of a service."""
    parser = argparse.ArgumentParser(prog=f"complaints-{definition.name}", description=definition.title)
    commands = parser.add_subparsers(dest="command", required=True)
    for mode in Mode:
        commands.add_parser(mode.value, help=f"run the service ({mode.value})")
    commands.add_parser("migrate", help="upgrade the service's schema to the latest migration")
    republish = commands.add_parser("republish", help="re-send every outbox row written since a time")
    republish.add_argument("--since", required=True, type=datetime.fromisoformat)
    replay = commands.add_parser("replay-dlq", help="send a dead-letter topic's records back to their topic")
    replay.add_argument("--topic", required=True, help="the dead-letter topic, e.g. complaint.created.dlq")
    args = parser.parse_args(argv)

    settings = definition.settings_factory()
    setup_logging(definition.name, settings.log_level)
    if args.command == "migrate":
        run_migrations(definition, settings)
    elif args.command == "republish":
        schema = definition.metadata.schema or definition.name
        count = asyncio.run(republish_since(settings, schema, args.since))
        print(f"{count} outbox rows will be sent again")
    elif args.command == "replay-dlq":
        replay_command(settings, definition.name, args.topic)
    else:
        serve(definition, settings, Mode(args.command))


def serve(definition: ServiceDefinition[Any], settings: ServiceSettings, mode: Mode) -> None:
    setup_telemetry(definition.name, settings.spans_file, settings.trace_statements)
    app = definition.create_app(settings, mode)
    try:
        uvicorn.run(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE_S),
            timeout_keep_alive=settings.http_keep_alive_s,
        )
    finally:
        shutdown_telemetry()
