"""The embedded stack a benchmark or fault run starts for itself, in a temporary directory.

PostgreSQL and a broker on free ports (the Tansu broker, or with `broker="kafka"` a three-node Apache
Kafka cluster with topics replicated 3 ways, `min.insync.replicas=2`), every topic created, then
each service migrated and served as a real subprocess by the one process harness
(complaints_devstack.harness: `complaints-<svc> migrate`,
`complaints-<svc> serve`), `replicas` processes of each (`intake`, `intake-2`, ...), its environment
built by the launcher's `service_env`, as tests/e2e/conftest.py does. Tracing is off (no spans
file, OTEL_TRACES_EXPORTER=none): the load runs measure the platform, not the span exporter.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from complaints_common.events.topics import all_topics_with_dead_letters
from complaints_devstack import kafka
from complaints_devstack.broker import EmbeddedBroker, create_topics
from complaints_devstack.harness import ServiceProcesses, ServiceSpec, service_executable
from complaints_devstack.launcher import SERVICE_ORDER, default_services, dev_api_keys_json, service_env
from complaints_devstack.ports import free_port
from complaints_devstack.postgres import EmbeddedPostgres

SERVICES = SERVICE_ORDER
API_KEY = "bench-key"
# Tracing and metrics export off; quick rejoin after a kill -9 (Tansu's first generation costs a
# session timeout).
_BASE_ENV = {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
_SETTINGS = {
    "LOG_LEVEL": "WARNING",
    "KAFKA_SESSION_TIMEOUT_MS": "3000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    "KAFKA_REQUEST_TIMEOUT_MS": "5000",
}


@contextlib.contextmanager
def run_directory(keep: Path | None, prefix: str) -> Iterator[Path]:
    """Where a run puts its servers' data and logs: `keep` (left in place afterwards, to read the
    logs), or else a temporary directory removed at the end."""
    if keep is not None:
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


class _Replicas(httpx.AsyncBaseTransport):
    """Sends each request to the next replica's port; one that refuses the connection (killed, not
    yet started) is skipped, as a Service drops an endpoint that is not ready. Nothing was sent to
    it, so trying the next is safe."""

    def __init__(self, ports: list[int], limits: httpx.Limits) -> None:
        self._ports = ports
        self._turn = itertools.count()
        self._inner = httpx.AsyncHTTPTransport(limits=limits)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        first = next(self._turn)
        for attempt in range(len(self._ports)):
            request.url = request.url.copy_with(port=self._ports[(first + attempt) % len(self._ports)])
            try:
                return await self._inner.handle_async_request(request)
            except httpx.ConnectError:
                if attempt == len(self._ports) - 1:
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class Stack:
    """Embedded PostgreSQL and broker plus the four services; `service_database_url` may point at
    a proxy in front of PostgreSQL (the chaos suite's slow-database fault)."""

    workdir: Path
    broker_kind: str = "tansu"  # or "kafka"
    replicas: int = 1
    # Extra environment per service (every replica of it gets it).
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    postgres: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | kafka.EmbeddedKafkaCluster | None = None
    service_database_url: str | None = None
    # The one process harness (complaints_devstack.harness), made once the ports are chosen.
    harness: ServiceProcesses | None = None

    # -- infrastructure ---------------------------------------------------------------------------

    def start_infra(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The PostgreSQL log and settings as the dev stack uses them; fsync stays on (real durability).
        self.postgres = EmbeddedPostgres(
            self.workdir / "pgdata", free_port(), log_path=self.workdir / "postgres.log"
        )
        self.postgres.start()
        if self.broker_kind == "kafka":
            self.broker = kafka.EmbeddedKafkaCluster(self.workdir / "kafka")
            self.broker.start()
            print(f"started Apache Kafka {self.broker.version} in {self.broker.start_seconds:.1f} s")
        else:
            self.broker = EmbeddedBroker(free_port(), log_path=self.workdir / "broker.log")
            self.broker.start()
        self.create_topics()
        services = default_services({"COMPLAINTS_REPLICAS": str(self.replicas)})
        specs = [replace(spec, port=free_port()) for spec in services]
        self.harness = ServiceProcesses(specs, self.env, self.workdir)

    def create_topics(self, prefix: str = "") -> None:
        on_kafka = isinstance(self.broker, kafka.EmbeddedKafkaCluster)
        replicas, min_insync = (kafka.REPLICATION_FACTOR, kafka.MIN_INSYNC_REPLICAS) if on_kafka else (1, 1)
        asyncio.run(
            create_topics(
                self.bootstrap,
                all_topics_with_dead_letters(),
                prefix,
                replication_factor=replicas,
                min_insync_replicas=min_insync,
            )
        )

    def broker_pids(self) -> dict[str, int]:
        """The broker's processes by name: `broker` (Tansu) or `kafka-1` ... `kafka-3`."""
        if isinstance(self.broker, kafka.EmbeddedKafkaCluster):
            return {f"kafka-{i}": node.pid or 0 for i, node in self.broker.nodes.items()}
        return {"broker": self.broker.pid or 0} if self.broker is not None else {}

    @property
    def processes(self) -> ServiceProcesses:
        assert self.harness is not None, "start_infra() first"
        return self.harness

    @property
    def specs(self) -> dict[str, ServiceSpec]:
        return self.processes.specs

    def instances(self, services: tuple[str, ...] = SERVICES) -> list[str]:
        """Every replica's process name of the given services, in service order."""
        return [instance for instance, spec in self.specs.items() if spec.name in services]

    @property
    def database_url(self) -> str:
        assert self.postgres is not None
        return str(self.postgres.url())

    @property
    def bootstrap(self) -> str:
        assert self.broker is not None
        return str(self.broker.bootstrap_servers)

    # -- services ---------------------------------------------------------------------------------

    def env(self, service: str) -> dict[str, str]:
        env = service_env(
            self.specs[service],
            base_env={**os.environ, **_BASE_ENV},
            database_url=self.service_database_url or self.database_url,
            kafka_bootstrap=self.bootstrap,
            api_keys_json=dev_api_keys_json(API_KEY, client="crm-bench"),
            settings=_SETTINGS,
        )
        env.pop(self.specs[service].env_prefix + "SPANS_FILE", None)
        env.update(self.extra_env.get(self.specs[service].name, {}))
        return env

    def url(self, service: str) -> str:
        return self.specs[service].base_url

    def intake_client(self, **options: Any) -> httpx.AsyncClient:
        """What the load generators file complaints with: a CRM's client of intake (of all its
        replicas in turn, as behind a Kubernetes Service)."""
        ports = [self.specs[i].port for i in self.instances(("intake",))]
        if len(ports) > 1:
            options["transport"] = _Replicas(ports, limits=options.pop("limits", httpx.Limits()))
        return httpx.AsyncClient(
            base_url=self.url("intake"), headers={"X-API-Key": API_KEY}, timeout=30, **options
        )

    def migrate(self, service: str) -> None:
        self.processes.migrate(service, timeout=120)

    def start(self, service: str) -> None:
        self.processes.start(service)

    def kill(self, service: str) -> None:
        """kill -9: no shutdown hook runs, nothing is flushed."""
        self.processes.kill(service)

    def pause_services(self) -> None:
        """SIGSTOP every service: connections stay open, nothing runs until resume_services."""
        for process in self.processes.running.values():
            process.send_signal(signal.SIGSTOP)

    def resume_services(self) -> None:
        for process in self.processes.running.values():
            process.send_signal(signal.SIGCONT)

    def stop(self, service: str) -> None:
        self.processes.stop(service)

    def republish(self, service: str, since: str) -> str:
        result = subprocess.run(  # noqa: S603 - our own console script
            [str(service_executable(service)), "republish", "--since", since],
            env=self.env(service),
            capture_output=True,
            timeout=60,
            check=False,
        )
        return (result.stdout + result.stderr).decode(errors="replace").strip().splitlines()[-1:][0]

    def answers(self, service: str, path: str) -> bool:
        """True when the service answers `path` (/healthz: it serves; /readyz: it is ready) with 200."""
        try:
            return httpx.get(self.url(service) + path, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_answering(self, service: str, path: str = "/healthz", timeout: float = 90.0) -> None:
        """Wait until the service answers `path` with 200 (raises when it exits or times out)."""
        self.processes.wait_ready([service], timeout, path=path)

    def wait_ready(self, service: str, timeout: float = 90.0) -> None:
        self.processes.wait_ready([service], timeout)

    def start_services(self, services: tuple[str, ...] = SERVICES) -> None:
        """Start every replica of the given services and wait until each is ready."""
        for instance in self.instances(services):
            self.start(instance)
        self.processes.wait_ready(self.instances(services))

    def log_tail(self, service: str) -> str:
        return self.processes.log_tail(service)

    def pids(self) -> Mapping[str, int]:
        return self.processes.pids()

    def close(self) -> None:
        if self.harness is not None:
            self.harness.stop_all(timeout=20)
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
