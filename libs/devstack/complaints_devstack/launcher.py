"""`complaints-dev run`: the whole platform on a laptop, with embedded PostgreSQL and broker.

Order of start: PostgreSQL, broker, topics, each service's migrations (one after the other, in
service order), then every service's HTTP server; the launcher then waits until every service
answers `GET /readyz` with 200. Order of stop (Ctrl-C, SIGTERM, or a service dying): services,
broker, PostgreSQL, so no service sees its database vanish while it drains.

Every child runs in its own session so a terminal Ctrl-C reaches only the launcher, which then
stops them in that order. If the launcher itself is killed with SIGKILL its children live on; the
next run finds them through the pid files in `.run/pids/` and stops them before starting anew
(PostgreSQL is found through its own `postmaster.pid`).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import TextIO

from complaints_common.api import hash_key
from complaints_common.events.topics import TopicSpec, all_topics_with_dead_letters
from complaints_devstack import kafka
from complaints_devstack._process import (
    ChildServer,
    log_tail,
    pid_alive,
    process_cmdline,
    wait_pid_gone,
)
from complaints_devstack.broker import EmbeddedBroker, create_topics
from complaints_devstack.harness import ServiceProcesses, ServiceSpec, StackError, service_executable
from complaints_devstack.issuer import DevIssuer
from complaints_devstack.postgres import EmbeddedPostgres

DEV_API_KEY = "dev-key-change-me"
DEV_API_CLIENT = "crm-dev"
DEV_API_SCOPES = ("file", "read", "manage", "admin")
DEFAULT_PG_PORT = 55432
DEFAULT_KAFKA_PORT = 19092
# The documented port table; COMPLAINTS_<SVC>_PORT overrides one entry.
DEFAULT_SERVICE_PORTS: Mapping[str, int] = {
    "intake": 8081,
    "compensation": 8082,
    "followup": 8083,
    "notifications": 8084,
}
SERVICE_ORDER: tuple[str, ...] = tuple(DEFAULT_SERVICE_PORTS)
# Replica k (2, 3, ...) of a service listens on its port + REPLICA_PORT_STEP * (k - 1).
REPLICA_PORT_STEP = 10
BROKERS = ("tansu", "kafka")

_Step = Callable[[], None]


class LaunchError(StackError):
    """The stack could not be started; the message says which part and shows its log."""


class _StopRequested(Exception):
    """Raised in the launcher's own loops after SIGINT or SIGTERM arrived."""


# -- configuration ------------------------------------------------------------------------------


def default_services(environ: Mapping[str, str]) -> list[ServiceSpec]:
    """The four services in start order, with `COMPLAINTS_<SVC>_PORT` overrides applied, each run
    `COMPLAINTS_REPLICAS` times (default 1): the replicas share its consumer groups and database,
    and its outbox relay and timers run in one of them at a time (advisory locks)."""
    replicas = int(environ.get("COMPLAINTS_REPLICAS") or "1")
    if replicas < 1:
        raise LaunchError(f"COMPLAINTS_REPLICAS must be 1 or more, got {replicas}")
    services = []
    for name in SERVICE_ORDER:
        port = int(environ.get(f"COMPLAINTS_{name.upper()}_PORT", DEFAULT_SERVICE_PORTS[name]))
        exe = str(service_executable(name))
        first = ServiceSpec(name, port, serve=(exe, "serve"), migrate=(exe, "migrate"))
        services.append(first)
        services += [
            replace(first, port=port + REPLICA_PORT_STEP * (k - 1), migrate=None, replica=k)
            for k in range(2, replicas + 1)
        ]
    return services


def dev_api_keys_json(key: str = DEV_API_KEY, client: str = DEV_API_CLIENT) -> str:
    """`<SVC>_API_KEYS` holding only `key` (by default the development key), with every scope."""
    entry = {"client": client, "sha256": hash_key(key), "scopes": list(DEV_API_SCOPES)}
    return json.dumps([entry])


def service_env(
    spec: ServiceSpec,
    *,
    base_env: Mapping[str, str],
    database_url: str,
    kafka_bootstrap: str,
    api_keys_json: str,
    spans_dir: Path | None = None,
    settings: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of one service: the caller's (OTEL_* etc.) plus its own settings.

    With `spans_dir`, finished spans also go to `<spans_dir>/<service>.jsonl` for the journey view,
    and, unless the caller chose an exporter, no OTLP export is tried (no collector runs locally).
    `settings` are further settings of the service, named without its prefix (`TOPIC_PREFIX`).
    """
    env = dict(base_env)
    prefix = spec.env_prefix
    if spans_dir is not None:
        env.setdefault(prefix + "SPANS_FILE", str(spans_dir / f"{spec.name}.jsonl"))
        env.setdefault("OTEL_TRACES_EXPORTER", "none")
    env[prefix + "DATABASE_URL"] = database_url
    env[prefix + "KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    env[prefix + "HTTP_PORT"] = str(spec.port)
    env[prefix + "API_KEYS"] = api_keys_json
    env.update({prefix + name: value for name, value in (settings or {}).items()})
    env["PYTHONUNBUFFERED"] = "1"  # logs reach the log file as they happen
    return env


@dataclass
class LaunchConfig:
    """What `complaints-dev` starts. `database_url`/`kafka_bootstrap` set: use them, start none."""

    run_dir: Path = Path(".run")
    services: Sequence[ServiceSpec] = ()
    database_url: str | None = None
    kafka_bootstrap: str | None = None
    broker: str = "tansu"  # the embedded broker: tansu, or kafka (a three-node Apache Kafka cluster)
    pg_port: int = DEFAULT_PG_PORT
    kafka_port: int = DEFAULT_KAFKA_PORT
    api_keys_json: str | None = None  # None: the development key
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    topics: Sequence[TopicSpec] = field(default_factory=all_topics_with_dead_letters)
    ready_timeout: float = 60.0
    migrate_timeout: float = 300.0
    stop_timeout: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, run_dir: Path = Path(".run")) -> LaunchConfig:
        env = dict(os.environ if environ is None else environ)
        broker = env.get("COMPLAINTS_BROKER", "tansu").strip().lower() or "tansu"
        if broker not in BROKERS:
            raise LaunchError(f"COMPLAINTS_BROKER must be one of {', '.join(BROKERS)}, got {broker!r}")
        return cls(
            broker=broker,
            run_dir=run_dir,
            services=default_services(env),
            database_url=env.get("COMPLAINTS_DATABASE_URL") or None,
            kafka_bootstrap=env.get("COMPLAINTS_KAFKA_BOOTSTRAP_SERVERS") or None,
            pg_port=int(env.get("COMPLAINTS_EMBEDDED_PG_PORT", DEFAULT_PG_PORT)),
            kafka_port=int(env.get("COMPLAINTS_EMBEDDED_KAFKA_PORT", DEFAULT_KAFKA_PORT)),
            api_keys_json=env.get("COMPLAINTS_API_KEYS") or None,
            env=env,
        )

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def pgdata_dir(self) -> Path:
        return self.run_dir / "pgdata"

    @property
    def spans_dir(self) -> Path:
        return self.run_dir / "spans"

    @property
    def issuer_dir(self) -> Path:
        return self.run_dir / "issuer"


def _checked_api_keys(raw: str) -> str:
    try:
        keys = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LaunchError(f"COMPLAINTS_API_KEYS is not JSON: {exc}") from exc
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise LaunchError('COMPLAINTS_API_KEYS must be a JSON list of {"client", "sha256", ...}')
    return raw


# -- pid files: finding children of a launcher that was killed --------------------------------


class _PidFiles:
    """One file per child with its pid and command line, removed when the child is stopped."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def record(self, name: str, pid: int, argv: Sequence[str]) -> None:
        # The argv we asked for, not /proc's view: right after fork the child still shows ours.
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = {"pid": pid, "argv": list(argv)}
        (self.directory / f"{name}.json").write_text(json.dumps(entry))

    def forget(self, name: str) -> None:
        (self.directory / f"{name}.json").unlink(missing_ok=True)

    def reap(self, say: _Say) -> None:
        """Stop processes an earlier, killed launcher left running (same pid and command line)."""
        for path in sorted(self.directory.glob("*.json")):
            try:
                entry = json.loads(path.read_text())
                pid, argv = int(entry["pid"]), [str(a) for a in entry["argv"]]
            except (OSError, ValueError, KeyError, TypeError):
                pid, argv = 0, []
            if pid and argv and pid_alive(pid) and _runs(pid, argv):
                say(f"stopping {path.stem} left running by an earlier run (pid {pid})")
                _stop_foreign(pid)
            path.unlink(missing_ok=True)


def _runs(pid: int, argv: Sequence[str]) -> bool:
    """True when process pid still runs argv (a pid may have been reused since).

    A suffix match: a console script shows up as `python /venv/bin/complaints-intake serve`.
    """
    cmdline = process_cmdline(pid)
    return cmdline is not None and " ".join(cmdline).endswith(" ".join(argv))


def _stop_foreign(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_pid_gone(pid, timeout):
        os.kill(pid, signal.SIGKILL)


class _Say:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, message: str) -> None:
        print(f"complaints-dev: {message}", file=self.out, flush=True)


# -- the launcher -------------------------------------------------------------------------------


class Launcher:
    """Starts and supervises the stack. `run()` and `up_infra()` block until stopped."""

    def __init__(self, config: LaunchConfig, out: TextIO | None = None) -> None:
        self.config = config
        self.say = _Say(out or sys.stdout)
        self.postgres: EmbeddedPostgres | None = None
        self.broker: EmbeddedBroker | kafka.EmbeddedKafkaCluster | None = None
        self.database_url = config.database_url or ""
        self.kafka_bootstrap = config.kafka_bootstrap or ""
        self.processes = ServiceProcesses(
            config.services, lambda instance: self._env_for(self.processes.specs[instance]), config.logs_dir
        )
        self._pids = _PidFiles(config.run_dir / "pids")
        self._stop_signal: int | None = None
        self._lock_fd: int | None = None

    # -- entry points ---------------------------------------------------------------------------

    def run(self) -> int:
        """The whole platform. Returns 0 after Ctrl-C/SIGTERM, 1 when something failed."""
        return self._supervise(self._start_everything, self._banner)

    def up_infra(self) -> int:
        """Only PostgreSQL, the broker and the topics, e.g. for benchmarks."""
        return self._supervise(self._start_infra, self._infra_banner)

    def _supervise(self, start: _Step, banner: _Step) -> int:
        with self._signals():
            try:
                self._lock_run_dir()
                start()
                banner()
                return self._watch()
            except _StopRequested:
                return 0
            except StackError as exc:
                self.say(f"error: {exc}")
                return 1
            finally:
                self._shutdown()

    def _lock_run_dir(self) -> None:
        """Refuse to share a run dir with a live launcher: we would take its children for orphans.

        flock is released when its holder dies, even by SIGKILL, so a dead launcher's lock never
        blocks the next run; our children do not inherit the descriptor (Python's default).
        """
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.config.run_dir / "complaints-dev.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LaunchError(
                f"another complaints-dev (pid {holder}) is running with {self.config.run_dir}; "
                "stop it first, or use --run-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _start_everything(self) -> None:
        self._api_keys_json()  # a malformed COMPLAINTS_API_KEYS fails before anything starts
        if not self.config.api_keys_json:
            self.say(
                f"warning: using the API key {DEV_API_KEY!r}; it is for development only "
                "(set COMPLAINTS_API_KEYS to use your own)"
            )
        self._start_infra()
        for spec in self.config.services:
            if spec.migrate is not None:
                self._check_stop()
                self.say(f"migrating {spec.name}")
                self.processes.migrate(spec.instance, self.config.migrate_timeout, self._sleep)
        for spec in self.config.services:
            self._check_stop()
            self.say(f"starting {spec.instance} on {spec.base_url}")
            proc = self.processes.start(spec.instance)
            self._pids.record(spec.instance, proc.pid, spec.serve)
        # A worker is ready only once its consumers hold their partitions, so a complaint filed as
        # soon as "up" is printed goes as fast as any later one.
        self.processes.wait_ready(
            self.processes.specs,
            self.config.ready_timeout,
            sleep=self._sleep,
            on_ready=lambda instance: self.say(f"{instance} is ready"),
        )

    # -- infrastructure -------------------------------------------------------------------------

    def _start_infra(self) -> None:
        self.config.logs_dir.mkdir(parents=True, exist_ok=True)
        self._pids.reap(self.say)
        if not self.config.database_url:
            self._start_postgres()
        if not self.config.kafka_bootstrap:
            self._start_broker()
        self._check_stop()
        self.say(f"creating {len(self.config.topics)} topics on {self.kafka_bootstrap}")
        on_kafka = isinstance(self.broker, kafka.EmbeddedKafkaCluster)
        replicas, min_insync = (kafka.REPLICATION_FACTOR, kafka.MIN_INSYNC_REPLICAS) if on_kafka else (1, 1)
        try:
            asyncio.run(
                create_topics(
                    self.kafka_bootstrap,
                    self.config.topics,
                    replication_factor=replicas,
                    min_insync_replicas=min_insync,
                )
            )
        except Exception as exc:
            raise LaunchError(f"could not create the topics: {exc}") from exc

    def _start_postgres(self) -> None:
        pg = EmbeddedPostgres(
            self.config.pgdata_dir,
            self.config.pg_port,
            log_path=self.config.logs_dir / "postgres.log",
        )
        self.say(f"starting PostgreSQL on port {pg.port} (data in {pg.data_dir})")
        self.postgres = pg
        _start_server(pg)
        self.database_url = pg.url()

    def _start_broker(self) -> None:
        if self.config.broker == "kafka":
            reason = kafka.unavailable_reason()
            if reason is None:
                self._start_kafka()
                return
            self.say(f"Apache Kafka cannot run here ({reason}): using the Tansu broker instead")
        broker = EmbeddedBroker(self.config.kafka_port, log_path=self.config.logs_dir / "broker.log")
        self.say(f"starting the Kafka-protocol broker (Tansu, memory only) on port {broker.port}")
        self.broker = broker
        _start_server(broker)
        if broker.pid is not None:
            self._pids.record("broker", broker.pid, broker.argv)
        self.kafka_bootstrap = broker.bootstrap_servers

    def _start_kafka(self) -> None:
        ports = [self.config.kafka_port + i for i in range(3)]
        cluster = kafka.EmbeddedKafkaCluster(self.config.run_dir / "kafka", broker_ports=ports)
        self.say(
            f"starting Apache Kafka {cluster.version} (3 KRaft nodes, data in {cluster.workdir}) "
            f"on ports {', '.join(map(str, ports))}"
        )
        self.broker = cluster
        _start_server(cluster)
        for node in cluster.nodes.values():
            if node.pid is not None:
                self._pids.record(f"kafka-{node.node_id}", node.pid, node.argv)
        self.say(f"Apache Kafka started in {cluster.start_seconds:.1f} s")
        self.kafka_bootstrap = cluster.bootstrap_servers

    # -- services -------------------------------------------------------------------------------

    def _api_keys_json(self) -> str:
        if self.config.api_keys_json:
            return _checked_api_keys(self.config.api_keys_json)
        return dev_api_keys_json()

    def _env_for(self, spec: ServiceSpec) -> dict[str, str]:
        return service_env(
            spec,
            base_env=self.config.env,
            database_url=self.database_url,
            kafka_bootstrap=self.kafka_bootstrap,
            api_keys_json=self._api_keys_json(),
            spans_dir=self.config.spans_dir,
            settings=self.issuer.env_settings(),
        )

    @property
    def issuer(self) -> DevIssuer:
        """The local token issuer; `complaints-dev token` mints from the same run directory."""
        return DevIssuer(self.config.issuer_dir)

    # -- running --------------------------------------------------------------------------------

    def _watch(self) -> int:
        """Wait for a stop signal; stop everything if a child dies meanwhile (and return 1)."""
        while True:
            died = self.processes.exited()
            if died is not None:
                self.say(f"error: {died}")
                return 1
            for name, server in (("PostgreSQL", self.postgres), ("broker", self.broker)):
                if server is not None and not server.is_running():
                    self.say(f"error: {name} exited unexpectedly; log {server.log_path}:")
                    self.say(log_tail(server.log_path))
                    return 1
            self._sleep(0.2)

    def _shutdown(self) -> None:
        # Further signals must not interrupt the ordered stop; it is bounded by stop_timeout.
        self._stop_signal = self._stop_signal or signal.SIGTERM
        if self.processes.running:
            self.say("stopping services")
        for instance in self.processes.stop_all(self.config.stop_timeout):
            self._pids.forget(instance)
        if self.broker is not None:
            self.say("stopping the broker")
            self.broker.stop()
            for name in ("broker", "kafka-1", "kafka-2", "kafka-3"):
                self._pids.forget(name)
        if self.postgres is not None:
            self.say("stopping PostgreSQL")
            self.postgres.stop()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
        self.say("stopped")

    # -- signals --------------------------------------------------------------------------------

    @contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM set a flag that the launcher's loops turn into an orderly stop."""

        def handler(signum: int, frame: FrameType | None) -> None:
            if self._stop_signal is None:
                self._stop_signal = signum
                self.say(f"received {signal.Signals(signum).name}, stopping")

        try:
            previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:  # not the main thread: the caller handles signals
            previous = {}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _check_stop(self) -> None:
        if self._stop_signal is not None:
            raise _StopRequested

    def _sleep(self, seconds: float) -> None:
        self._check_stop()
        time.sleep(seconds)
        self._check_stop()

    # -- banners --------------------------------------------------------------------------------

    def _infra_lines(self) -> list[str]:
        pg = "embedded, data in " + str(self.postgres.data_dir) if self.postgres else "external"
        broker = "external"
        if isinstance(self.broker, kafka.EmbeddedKafkaCluster):
            broker = f"embedded Apache Kafka {self.broker.version}, data in {self.broker.workdir}"
        elif self.broker is not None:
            broker = "embedded Tansu, memory only"
        return [
            f"  PostgreSQL     {_mask(self.database_url)}   ({pg})",
            f"  Kafka          {self.kafka_bootstrap}   ({broker})",
            f"  logs           {self.config.logs_dir}/",
        ]

    def _infra_banner(self) -> None:
        self._print_banner(self._infra_lines(), "the infrastructure is up (Ctrl-C stops it)")

    def _banner(self) -> None:
        lines = [f"  {instance:<14} {self.processes.url(instance)}" for instance in self.processes.running]
        lines += self._infra_lines() + self._curl_lines()
        self._print_banner(lines, "the platform is up (Ctrl-C stops it)")

    def _print_banner(self, lines: list[str], headline: str) -> None:
        # One write, headline last: whoever waits for the headline sees the whole banner.
        text = "\n".join(["", *lines, "", f"complaints-dev: {headline}"])
        print(text, file=self.say.out, flush=True)

    def _curl_lines(self) -> list[str]:
        intake = self.processes.specs.get("intake")
        if intake is None:
            return []
        key = "<your key>" if self.config.api_keys_json else DEV_API_KEY
        lines = ["", "Try it:"]
        if not self.config.api_keys_json:
            lines.insert(0, f"  API key        {DEV_API_KEY}   (development only, never deploy it)")
        lines.append(
            f"  curl -s -X POST {intake.base_url}/v1/complaints -H 'X-API-Key: {key}' "
            "-H 'Content-Type: application/json' -d @docs/examples/complaint.json"
        )
        lines.append(f"  curl -s {intake.base_url}/v1/complaints/<id> -H 'X-API-Key: {key}'")
        lines.append("  As a person (bearer token from the local issuer):")
        lines.append(
            f"  TOKEN=$(.venv/bin/complaints-dev token --tenant {DEV_API_CLIENT} --sub agent-7 --role agent)"
        )
        lines.append(f'  curl -s {intake.base_url}/v1/complaints/<id> -H "Authorization: Bearer $TOKEN"')
        return lines


def _start_server(server: ChildServer | kafka.EmbeddedKafkaCluster) -> None:
    try:
        server.start()
    except Exception as exc:
        raise LaunchError(str(exc)) from exc


def _mask(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"
