"""The four services as real subprocesses on the test's own database and topics.

`platform` serves them on the test's database (a copy of the session's template, which the
services' own `migrate` built), waits until each answers /readyz, and stops them after the test.
Tests may kill -9 and restart a service to prove nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from complaints_common.db import asyncpg_dsn
from complaints_devstack.broker import EmbeddedBroker
from complaints_devstack.launcher import (
    SERVICE_ORDER,
    ServiceSpec,
    default_services,
    dev_api_keys_json,
    service_env,
)
from complaints_devstack.ports import free_port
from complaints_devstack.service_testing import FAST_SETTINGS, local_issuer

API_KEY = "e2e-test-key"
# A worker is ready once its consumers hold partitions: after a kill -9 the dead member must time out
# of its group first, and on a machine shared by several suites rebalances take longer still.
READY_TIMEOUT_S = 120.0


@dataclass
class Platform:
    database_url: str
    bootstrap: str
    prefix: str
    workdir: Path
    satisfaction_delay_s: float = 2.0
    specs: dict[str, ServiceSpec] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, service: str) -> dict[str, str]:
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
        log = (self.workdir / f"{service}.log").open("ab")
        self.processes[service] = subprocess.Popen(
            self.specs[service].serve, env=self.env(service), stdout=log, stderr=log
        )

    def kill(self, service: str) -> None:
        """kill -9: no shutdown hook runs, nothing is flushed."""
        process = self.processes.pop(service)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

    async def wait_ready(self, service: str, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                process = self.processes[service]
                if process.poll() is not None:
                    raise RuntimeError(f"{service} exited: {self.log_tail(service)}")
                try:
                    if (await client.get(self.url(service) + "/readyz", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{service} not ready: {self.log_tail(service)}")

    def log_tail(self, service: str) -> str:
        path = self.workdir / f"{service}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

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
    stack = Platform(database_url, kafka_bootstrap, topics, tmp_path)
    stack.specs = {spec.name: replace(spec, port=free_port()) for spec in default_services({})}
    # No migrate here: `database_url` is a copy of a template the services' own `migrate` built.
    try:
        for service in SERVICE_ORDER:
            stack.start(service)
        await asyncio.gather(*(stack.wait_ready(service) for service in SERVICE_ORDER))
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
    stack = Platform(database_url, broker.bootstrap_servers, "", tmp_path)
    (intake,) = [spec for spec in default_services({}) if spec.name == "intake"]
    exe = intake.serve[0]
    stack.specs = {
        "intake": replace(intake, port=free_port()),
        "intake-api": replace(intake, port=free_port(), serve=(exe, "api")),
        "intake-worker": replace(intake, port=free_port(), serve=(exe, "worker")),
    }
    try:
        yield stack, broker
    finally:
        stack.stop_all()
        broker.stop()


async def eventually(probe: Any, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll an async probe until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(interval)


@pytest.fixture
def wait_for() -> Any:
    return eventually
