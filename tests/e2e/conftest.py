"""The four services as real subprocesses on the test's own database and topics.

`platform` serves them on the test's database (a copy of the session's template, which the
services' own `migrate` built), waits until each answers /readyz, and stops them after the test.
Tests may kill -9 and restart a service to prove nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import InitVar, dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from complaints_common.db import asyncpg_dsn
from complaints_devstack.broker import EmbeddedBroker
from complaints_devstack.harness import ServiceProcesses, ServiceSpec
from complaints_devstack.launcher import SERVICE_ORDER, default_services, dev_api_keys_json, service_env
from complaints_devstack.polling import eventually
from complaints_devstack.ports import free_port
from complaints_devstack.service_testing import FAST_SETTINGS, local_issuer

API_KEY = "e2e-test-key"
# A worker is ready once its consumers hold partitions: after a kill -9 the dead member must time out
# of its group first, and on a machine shared by several suites rebalances take longer still.
READY_TIMEOUT_S = 120.0


@dataclass
class Platform:
    """The services of `specs` on the test's database and topics, run by the one process harness
    (complaints_devstack.harness), logs in `workdir`."""

    database_url: str
    bootstrap: str
    prefix: str
    workdir: Path
    specs_to_run: InitVar[Iterable[ServiceSpec] | Mapping[str, ServiceSpec]]
    satisfaction_delay_s: float = 2.0
    harness: ServiceProcesses = field(init=False)

    def __post_init__(self, specs_to_run: Iterable[ServiceSpec] | Mapping[str, ServiceSpec]) -> None:
        self.harness = ServiceProcesses(specs_to_run, self._env, self.workdir)

    @property
    def specs(self) -> dict[str, ServiceSpec]:
        return self.harness.specs

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return self.harness.running

    def env(self, service: str) -> dict[str, str]:
        return self.harness.env(service)

    def _env(self, service: str) -> dict[str, str]:
        settings = {
            "TOPIC_PREFIX": self.prefix,
            "SPANS_FILE": str(self.spans_file(service)),
            **{name.upper(): str(value) for name, value in FAST_SETTINGS.items()},
            **local_issuer().env_settings(),
        }
        base_env = {
            **os.environ,
            "FOLLOWUP_SATISFACTION_DELAY_S": str(self.satisfaction_delay_s),
            "FOLLOWUP_TIMER_POLL_INTERVAL_S": "0.2",
            "OTEL_TRACES_EXPORTER": "none",
            # The test's webhook receivers listen on loopback over http: allowed explicitly.
            "NOTIFICATIONS_WEBHOOK_ALLOW_HTTP": "true",
            "NOTIFICATIONS_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
        }
        return service_env(
            self.specs[service],
            base_env=base_env,
            database_url=self.database_url,
            kafka_bootstrap=self.bootstrap,
            api_keys_json=dev_api_keys_json(API_KEY, client="crm-e2e"),
            settings=settings,
        )

    def spans_file(self, service: str) -> Path:
        return self.workdir / f"spans-{service}.jsonl"

    def url(self, service: str) -> str:
        return self.specs[service].base_url

    def start(self, service: str) -> None:
        self.harness.start(service)

    def kill(self, service: str) -> None:
        """kill -9: no shutdown hook runs, nothing is flushed."""
        self.harness.kill(service)

    def stop_all(self) -> None:
        self.harness.stop_all(timeout=15)

    async def wait_ready(self, service: str, timeout: float = READY_TIMEOUT_S) -> None:
        await asyncio.to_thread(self.harness.wait_ready, [service], timeout)

    def log_tail(self, service: str) -> str:
        return self.harness.log_tail(service)

    def client(self, service: str, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        """A client of the service: the start-up key of tenant `crm-e2e` unless `headers` say otherwise."""
        return httpx.AsyncClient(
            base_url=self.url(service), headers=headers or {"X-API-Key": API_KEY}, timeout=10
        )

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.database_url))
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    def observer(self, topics: Iterable[str], name: str) -> AIOKafkaConsumer:
        """A test's own consumer group on these (unprefixed) topics, from their beginning; not started."""
        return AIOKafkaConsumer(
            *(self.prefix + topic for topic in topics),
            bootstrap_servers=self.bootstrap,
            group_id=self.prefix + name,
            auto_offset_reset="earliest",
            session_timeout_ms=2000,
            heartbeat_interval_ms=300,
            request_timeout_ms=5000,
        )

    def spans(self) -> list[dict[str, Any]]:
        found = []
        for service in SERVICE_ORDER:
            path = self.spans_file(service)
            if path.exists():
                found += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return found


@pytest.fixture
async def platform(
    database_url: str, kafka_bootstrap: str, topics: str, tmp_path: Path
) -> AsyncIterator[Platform]:
    specs = [replace(spec, port=free_port()) for spec in default_services({})]
    stack = Platform(database_url, kafka_bootstrap, topics, tmp_path, specs)
    # No migrate here: `database_url` is a copy of a template the services' own `migrate` built.
    try:
        for service in SERVICE_ORDER:
            stack.start(service)
        await asyncio.to_thread(stack.harness.wait_ready, SERVICE_ORDER, READY_TIMEOUT_S)
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
async def intake_without_broker(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Platform, EmbeddedBroker]]:
    """Intake's API and worker as separate processes (`intake-api`, `intake-worker`), on a migrated
    database (`database_url`) but not started, and a Tansu broker of their own that is not started
    either: an outage that is real while the session's broker keeps serving every other test."""
    broker = EmbeddedBroker(free_port(), log_path=tmp_path / "tansu.log")
    (intake,) = [spec for spec in default_services({}) if spec.name == "intake"]
    exe = intake.serve[0]
    specs = {
        "intake": replace(intake, port=free_port()),
        "intake-api": replace(intake, port=free_port(), serve=(exe, "api")),
        "intake-worker": replace(intake, port=free_port(), serve=(exe, "worker")),
    }
    stack = Platform(database_url, broker.bootstrap_servers, "", tmp_path, specs)
    try:
        yield stack, broker
    finally:
        stack.stop_all()
        broker.stop()


@pytest.fixture
def wait_for() -> Any:
    return eventually
