"""Apache Kafka itself: a three-node KRaft cluster on loopback for tests, benchmarks, chaos and runs.

The broker's jars come from Maven Central once: `libs/devstack/kafka/pom.xml` pins the version and
`mvn dependency:copy-dependencies` copies the run-time class path into `.tools/kafka-<version>/libs`
(git ignores `.tools`); every later start is offline. Each node is broker and controller at once
(`process.roles=broker,controller`, a static quorum of all three), so one JVM per node.

The cluster is set up as production is (deploy/ uses the same version and settings): automatic topic
creation off, replication factor 3, `min.insync.replicas=2`, no unclean leader election. What differs
is only what makes it quick on a laptop: small heaps, fewer partitions for the internal topics, no
initial rebalance delay, and brokers fenced after 3 s without a heartbeat instead of 9 s, so a
killed broker's partitions move within seconds.

Secured listeners are opt-in (`secure=SecureListeners(...)`, for the security tests): beside the
plaintext listener each node then serves SASL_SSL with SCRAM-SHA-512 and SSL with client certificates
required (mTLS), from PEM files the caller makes; the default cluster stays plaintext.

Storage is formatted with Kafka's own `kafka.tools.StorageTool`, once per node id, into a template
under the cache folder; a new cluster copies the template (same cluster id), which saves three JVM
starts (about 10 s of CPU) per cluster.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from complaints_devstack._process import ChildServer, ParentDeathGuard, log_tail
from complaints_devstack.broker import _recv_exact
from complaints_devstack.ports import LOCALHOST, free_port, port_in_use

KAFKA_DIR = Path(__file__).resolve().parent.parent / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.properties"
# The repository root (libs/devstack/complaints_devstack/kafka.py -> ../../..), where .tools lives.
REPO_ROOT = Path(__file__).resolve().parents[3]
# Every embedded cluster shares one id: their storage is copied from one formatted template.
CLUSTER_ID = "V2XzsXQ3U32mvjsOKgXNNw"
MIN_JAVA = 17
NODE_IDS = (1, 2, 3)
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2
# A small heap per node is plenty for test traffic; SerialGC keeps GC threads off the two cores.
JAVA_OPTS: tuple[str, ...] = (
    "-Xms64m",
    "-Xmx384m",
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
)
# Tests run briefly: the C1 compiler alone starts the JVMs in less CPU. Benchmarks use JAVA_OPTS.
TEST_JAVA_OPTS: tuple[str, ...] = (*JAVA_OPTS, "-XX:TieredStopAtLevel=1")
# Broker settings shared with deploy/ (compose and Strimzi): what production runs.
PRODUCTION_CONFIG: dict[str, str] = {
    "auto.create.topics.enable": "false",
    "default.replication.factor": str(REPLICATION_FACTOR),
    "min.insync.replicas": str(MIN_INSYNC_REPLICAS),
    "unclean.leader.election.enable": "false",
    "offsets.topic.replication.factor": str(REPLICATION_FACTOR),
    "transaction.state.log.replication.factor": str(REPLICATION_FACTOR),
    "transaction.state.log.min.isr": str(MIN_INSYNC_REPLICAS),
}
# Only for the embedded cluster: quick to start and quick to notice a killed broker.
EMBEDDED_CONFIG: dict[str, str] = {
    "offsets.topic.num.partitions": "10",
    "transaction.state.log.num.partitions": "4",
    "group.initial.rebalance.delay.ms": "0",
    # The tests' consumers use 2 s sessions (as on Tansu); Kafka's floor is 6 s by default.
    "group.min.session.timeout.ms": "1000",
    "broker.heartbeat.interval.ms": "500",
    "broker.session.timeout.ms": "3000",
    "num.network.threads": "2",
    "num.io.threads": "2",
    "background.threads": "2",
    "log.cleaner.threads": "1",
}


@dataclass(frozen=True)
class SecureListeners:
    """TLS listeners of an embedded cluster, beside its plaintext one (which the nodes keep among
    themselves and for setting up): `SCRAM` (SASL_SSL, SCRAM-SHA-512) and `MTLS` (SSL, a client
    certificate signed by a CA of the truststore required)."""

    # PEM: the broker's private key (unencrypted PKCS#8) followed by its certificate chain.
    keystore: Path
    # PEM: the CA certificates whose client certificates the mTLS listener accepts.
    truststore: Path
    # SCRAM-SHA-512 users (name: password), created once the cluster is up.
    scram_users: Mapping[str, str] = field(default_factory=dict)


class KafkaUnavailableError(RuntimeError):
    """Java 17+ or Maven (for the first resolve) is missing, so Apache Kafka cannot run here."""


class KafkaClusterError(RuntimeError):
    """A node did not start, or the cluster did not come together in time."""


def kafka_version() -> str:
    """The Apache Kafka version pinned in the Maven descriptor."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if match is None:
        raise KafkaUnavailableError(f"no <kafka.version> in {POM}")
    return match.group(1).strip()


def cache_dir() -> Path:
    """Where the jars and the formatted storage template live (`COMPLAINTS_KAFKA_CACHE` overrides)."""
    configured = os.environ.get("COMPLAINTS_KAFKA_CACHE")
    base = Path(configured) if configured else REPO_ROOT / ".tools"
    return base / f"kafka-{kafka_version()}"


def java_problem() -> str | None:
    """Why Java cannot run the broker here (missing, too old), or None when it can."""
    java = shutil.which("java")
    if java is None:
        return f"no java on PATH (Apache Kafka needs Java {MIN_JAVA}+)"
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"java -version failed: {exc}"
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        return "cannot tell the Java version from `java -version`"
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_x" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        return f"java is version {major}; Apache Kafka {kafka_version()} needs Java {MIN_JAVA}+"
    return None


def unavailable_reason() -> str | None:
    """One line saying why Apache Kafka cannot run here, or None when it can (jars may still need
    resolving, which needs Maven only the first time)."""
    problem = java_problem()
    if problem is not None:
        return problem
    if not _libs_complete(cache_dir() / "libs") and shutil.which("mvn") is None:
        return f"no mvn on PATH to resolve Apache Kafka {kafka_version()} once from Maven Central"
    return None


def _libs_complete(libs: Path) -> bool:
    return (libs / ".complete").is_file()


def installed(node_ids: Sequence[int] = NODE_IDS) -> bool:
    """True when the jars are resolved and the storage of every node id is formatted (no Maven, no
    JVM needed to tell)."""
    template = cache_dir() / "formatted"
    return _libs_complete(cache_dir() / "libs") and all(
        (template / f"node-{i}" / ".complete").is_file() for i in node_ids
    )


@contextmanager
def _cache_lock() -> Iterator[None]:
    """One resolver/formatter at a time per cache (parallel test sessions share it)."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def kafka_libs(timeout_s: float = 900.0) -> Path:
    """The folder with the broker's jars, resolved from Maven Central the first time only."""
    libs = cache_dir() / "libs"
    if _libs_complete(libs):
        return libs
    reason = unavailable_reason()
    if reason is not None:
        raise KafkaUnavailableError(reason)
    with _cache_lock():
        if _libs_complete(libs):
            return libs
        staging = libs.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        argv = [
            shutil.which("mvn") or "mvn",
            *("-q", "-B", "-f", str(POM), "dependency:copy-dependencies"),
            f"-DoutputDirectory={staging}",
        ]
        done = subprocess.run(  # noqa: S603 - our own argv
            argv, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise KafkaUnavailableError(f"resolving Apache Kafka with Maven failed:\n{tail}")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        (libs / ".complete").write_text(kafka_version() + "\n")
    return libs


def _java_argv(libs: Path, java_opts: Sequence[str], main: str, *args: str) -> list[str]:
    return [
        shutil.which("java") or "java",
        *java_opts,
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp",
        f"{libs}/*",
        main,
        *args,
    ]


def _node_config(
    node_id: int, port: int, controller_port: int, voters: str, data_dir: Path
) -> dict[str, str]:
    return {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{LOCALHOST}:{port},CONTROLLER://{LOCALHOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{LOCALHOST}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir),
        **PRODUCTION_CONFIG,
        **EMBEDDED_CONFIG,
    }


def _secure_config(
    config: dict[str, str], secure: SecureListeners, scram_port: int, mtls_port: int
) -> dict[str, str]:
    """`config` (a node's) with the SCRAM and mTLS listeners added."""
    scram = f"SCRAM://{LOCALHOST}:{scram_port}"
    mtls = f"MTLS://{LOCALHOST}:{mtls_port}"
    return {
        **config,
        "listeners": f"{config['listeners']},{scram},{mtls}",
        "advertised.listeners": f"{config['advertised.listeners']},{scram},{mtls}",
        "listener.security.protocol.map": (
            f"{config['listener.security.protocol.map']},SCRAM:SASL_SSL,MTLS:SSL"
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(secure.keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(secure.truststore),
        "listener.name.scram.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.scram.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "listener.name.mtls.ssl.client.auth": "required",
    }


def _small_cluster_config(nodes: int) -> dict[str, str]:
    """Replication settings a cluster of fewer than three nodes can meet (a security test's single
    node); none for a full cluster, which runs production's."""
    if nodes >= REPLICATION_FACTOR:
        return {}
    return {
        "default.replication.factor": str(nodes),
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": str(nodes),
        "transaction.state.log.replication.factor": str(nodes),
        "transaction.state.log.min.isr": "1",
    }


def _write_properties(path: Path, values: dict[str, str]) -> None:
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))


def storage_template(node_ids: Sequence[int], libs: Path) -> Path:
    """Formatted storage for each node id (`<template>/node-<id>`), made by StorageTool once."""
    template = cache_dir() / "formatted"
    missing = [i for i in node_ids if not (template / f"node-{i}" / ".complete").is_file()]
    if not missing:
        return template
    with _cache_lock(), tempfile.TemporaryDirectory(prefix="kafka-format-") as work:
        # Static quorum: the voters' ports are not stored, so placeholders do for formatting.
        voters = ",".join(f"{i}@{LOCALHOST}:{9 + i}" for i in node_ids)
        procs: list[tuple[int, Path, subprocess.Popen[bytes]]] = []
        for node_id in missing:
            target = template / f"node-{node_id}"
            shutil.rmtree(target, ignore_errors=True)
            config = Path(work) / f"node-{node_id}.properties"
            _write_properties(config, _node_config(node_id, 1, 2, voters, target))
            argv = _java_argv(
                libs, TEST_JAVA_OPTS, "kafka.tools.StorageTool", "format", "-t", CLUSTER_ID, "-c", str(config)
            )
            log = Path(work) / f"node-{node_id}.log"
            with log.open("wb") as out:
                procs.append((node_id, log, subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)))  # noqa: S603
        for node_id, log, proc in procs:
            if proc.wait(timeout=120) != 0:
                raise KafkaClusterError(f"formatting node {node_id} failed:\n{log_tail(log)}")
            (template / f"node-{node_id}" / ".complete").write_text(CLUSTER_ID + "\n")
    return template


class KafkaNode(ChildServer):
    """One Apache Kafka process that is broker and controller at once."""

    def __init__(
        self,
        node_id: int,
        port: int,
        controller_port: int,
        workdir: Path,
        libs: Path,
        java_opts: Sequence[str],
        start_timeout: float,
    ) -> None:
        self.node_id = node_id
        self.port = port
        self.controller_port = controller_port
        self.data_dir = workdir / f"node-{node_id}"
        self.config_path = workdir / f"node-{node_id}.properties"
        self.log_path = workdir / f"node-{node_id}.log"
        self.libs = libs
        self.java_opts = tuple(java_opts)
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._guard: ParentDeathGuard | None = None

    def __repr__(self) -> str:
        return f"KafkaNode(id={self.node_id}, port={self.port})"

    @property
    def argv(self) -> list[str]:
        return _java_argv(self.libs, self.java_opts, "kafka.Kafka", str(self.config_path))

    def spawn(self) -> None:
        """Start the JVM without waiting (the three nodes must come up together to form a quorum)."""
        if self.is_running():
            return
        for port in (self.port, self.controller_port):
            if port_in_use(port):
                raise KafkaClusterError(f"cannot start Kafka node {self.node_id}: port {port} is in use")
        self._log = self.log_path.open("ab")
        # Own session, so a terminal Ctrl-C reaches only the launcher, which stops us in order.
        self._proc = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # atexit covers a normal exit; the guard also a parent killed with kill -9 (no orphan JVMs).
        self._guard = ParentDeathGuard(self._proc.pid)
        atexit.register(self._stop_at_exit)

    def _forget(self) -> None:
        super()._forget()
        if self._guard is not None:
            self._guard.close()
            self._guard = None

    def terminate(self) -> None:
        """Ask the node to stop (a controlled shutdown) without waiting; `stop` then waits."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)

    def wait_ready(self, brokers: int) -> None:
        """Wait until this node serves clients and its metadata lists `brokers` live brokers."""
        self._wait_ready_until(
            lambda: len(live_brokers(LOCALHOST, self.port)) >= brokers,
            f"Kafka node {self.node_id}",
            f"did not see {brokers} live brokers",
        )

    def start(self) -> None:
        self.spawn()
        self.wait_ready(1)

    def _error(self, message: str) -> KafkaClusterError:
        return KafkaClusterError(f"{message}; log {self.log_path}:\n{log_tail(self.log_path)}")


class EmbeddedKafkaCluster:
    """Three (by default) Apache Kafka nodes on free loopback ports, data under `workdir`.

    `stop_node`, `kill_node`, `start_node` and `restart_node` act on one node for fault tests; the
    data directories survive all of them (Kafka keeps topics, messages and offsets on disk).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        nodes: int = 3,
        broker_ports: Sequence[int] | None = None,
        java_opts: Sequence[str] = JAVA_OPTS,
        start_timeout: float = 120.0,
        secure: SecureListeners | None = None,
    ) -> None:
        """`broker_ports` fixes the client ports (e.g. 19092-19094 for `make run`); free ports else.
        `secure` adds the SCRAM and mTLS listeners (on free ports)."""
        self.workdir = workdir.absolute()
        self.secure = secure
        # Node id: (SCRAM port, mTLS port), when `secure` is given.
        self.secure_ports: dict[int, tuple[int, int]] = {}
        self.broker_ports = list(broker_ports) if broker_ports is not None else None
        self.java_opts = tuple(java_opts)
        self.start_timeout = start_timeout
        self.node_ids = list(range(1, nodes + 1))
        self.nodes: dict[int, KafkaNode] = {}
        self.start_seconds: float | None = None

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{LOCALHOST}:{node.port}" for node in self.nodes.values())

    @property
    def scram_bootstrap_servers(self) -> str:
        """The SASL_SSL (SCRAM-SHA-512) listeners; only with `secure`."""
        return ",".join(f"{LOCALHOST}:{scram}" for scram, _ in self.secure_ports.values())

    @property
    def mtls_bootstrap_servers(self) -> str:
        """The SSL listeners that require a client certificate; only with `secure`."""
        return ",".join(f"{LOCALHOST}:{mtls}" for _, mtls in self.secure_ports.values())

    @property
    def version(self) -> str:
        return kafka_version()

    def start(self) -> None:
        """Start every node and wait until each sees all brokers live. Idempotent."""
        began = time.monotonic()
        if not self.nodes:
            self._prepare()
        try:
            for node in self.nodes.values():
                node.spawn()
            for node in self.nodes.values():
                node.wait_ready(len(self.nodes))
            if self.secure is not None:
                for name, password in self.secure.scram_users.items():
                    self.add_scram_user(name, password)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began

    def add_scram_user(self, name: str, password: str, timeout_s: float = 120.0) -> None:
        """Create (or reset) a SCRAM-SHA-512 user with Kafka's own ConfigCommand, over the
        plaintext listener; the brokers serve it within their metadata propagation (milliseconds)."""
        node = next(iter(self.nodes.values()))
        argv = _java_argv(
            node.libs,
            TEST_JAVA_OPTS,
            "kafka.admin.ConfigCommand",
            *("--bootstrap-server", f"{LOCALHOST}:{node.port}", "--alter"),
            *("--add-config", f"SCRAM-SHA-512=[iterations=4096,password={password}]"),
            *("--entity-type", "users", "--entity-name", name),
        )
        done = subprocess.run(  # noqa: S603 - our own argv
            argv, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise KafkaClusterError(f"creating the SCRAM user {name!r} failed:\n{tail}")

    def _prepare(self) -> None:
        libs = kafka_libs()
        template = storage_template(self.node_ids, libs)
        self.workdir.mkdir(parents=True, exist_ok=True)
        client_ports = self.broker_ports or [free_port() for _ in self.node_ids]
        ports = {i: (client_ports[k], free_port()) for k, i in enumerate(self.node_ids)}
        voters = ",".join(f"{i}@{LOCALHOST}:{controller}" for i, (_, controller) in ports.items())
        for node_id, (port, controller_port) in ports.items():
            node = KafkaNode(
                node_id, port, controller_port, self.workdir, libs, self.java_opts, self.start_timeout
            )
            if not node.data_dir.exists():
                shutil.copytree(template / f"node-{node_id}", node.data_dir)
                (node.data_dir / ".complete").unlink()
            config = _node_config(node_id, port, controller_port, voters, node.data_dir)
            config |= _small_cluster_config(len(self.node_ids))
            if self.secure is not None:
                self.secure_ports[node_id] = (free_port(), free_port())
                config = _secure_config(config, self.secure, *self.secure_ports[node_id])
            _write_properties(node.config_path, config)
            self.nodes[node_id] = node

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every node (SIGTERM: a controlled shutdown each, SIGKILL after timeout)."""
        for node in self.nodes.values():
            node.terminate()  # all at once: each waits for the others' controlled shutdowns
        for node in self.nodes.values():
            node.stop(timeout)

    def stop_node(self, node_id: int, timeout: float = 30.0) -> None:
        """A clean stop of one node: it hands its partition leadership over first."""
        self.nodes[node_id].stop(timeout)

    def kill_node(self, node_id: int) -> None:
        """kill -9 one node, like a crash."""
        self.nodes[node_id].kill()

    def start_node(self, node_id: int) -> None:
        """Start a stopped node again on the same ports and data; waits until it is a live broker."""
        node = self.nodes[node_id]
        node.spawn()
        node.wait_ready(len(self.nodes))

    def start_nodes(self, node_ids: list[int]) -> None:
        """Start several stopped nodes together: a node waits for a controller quorum to catch up
        with, so after the whole cluster went down none of them is ready until enough are back."""
        for node_id in node_ids:
            self.nodes[node_id].spawn()
        for node_id in node_ids:
            self.nodes[node_id].wait_ready(len(self.nodes))

    def restart_node(self, node_id: int) -> None:
        self.stop_node(node_id)
        self.start_node(node_id)

    def running_nodes(self) -> list[int]:
        return [i for i, node in self.nodes.items() if node.is_running()]

    def is_running(self) -> bool:
        """True while every node runs (what a supervisor such as `make run` watches)."""
        return bool(self.nodes) and all(node.is_running() for node in self.nodes.values())

    @property
    def log_path(self) -> Path:
        """The log of the first node that is not running (else node 1's): the one to read."""
        stopped = [node for node in self.nodes.values() if not node.is_running()]
        return (stopped or list(self.nodes.values()))[0].log_path

    def __enter__(self) -> EmbeddedKafkaCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedKafkaCluster({self.bootstrap_servers or 'not started'})"


def _exchange(host: str, port: int, request: bytes, timeout: float) -> bytes:
    """Send one size-prefixed Kafka request on a connection of its own; the response's payload."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        return _recv_exact(sock, size)


def live_brokers(host: str, port: int, timeout: float = 2.0) -> set[int]:
    """Node ids of the live brokers a Kafka broker on host:port reports (Metadata v4); empty when it
    does not answer. Kafka 4 dropped Metadata v0-v3, hence not `broker.answers_metadata`."""
    correlation_id = 11
    client_id = b"complaints-dev"
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    body = struct.pack(">i?", 0, False)  # no topics, do not auto-create
    try:
        payload = _exchange(host, port, header + body, timeout)
    except (OSError, struct.error):
        return set()
    answered_id, _throttle, count = struct.unpack_from(">iii", payload, 0)
    if answered_id != correlation_id:
        return set()
    offset, ids = 12, set()
    for _ in range(count):
        (node_id,) = struct.unpack_from(">i", payload, offset)
        (host_len,) = struct.unpack_from(">h", payload, offset + 4)
        offset += 6 + host_len + 4  # host bytes, port
        (rack_len,) = struct.unpack_from(">h", payload, offset)
        offset += 2 + max(rack_len, 0)
        ids.add(node_id)
    return ids


def quorum_leader(host: str, port: int, timeout: float = 2.0) -> int | None:
    """Node id of the active controller (the KRaft quorum's leader), asked of a broker with
    DescribeQuorum v0; None when it does not answer. Metadata's controller id will not do: KRaft
    brokers report a random broker there."""
    correlation_id = 13
    client_id = b"complaints-dev"
    # Flexible versions: request header v2 (client id a plain string, then empty tagged fields).
    header = struct.pack(">hhih", 55, 0, correlation_id, len(client_id)) + client_id + b"\x00"
    topic = b"__cluster_metadata"
    # topics: one (compact array n+1), its name (compact string n+1), partitions: one, index 0.
    body = b"\x02" + bytes([len(topic) + 1]) + topic + b"\x02" + struct.pack(">i", 0) + b"\x00\x00\x00"
    try:
        payload = _exchange(host, port, header + body, timeout)
        # Response header v1: correlation id, tagged fields; then error code, topics, name.
        answered_id, _tags, error = struct.unpack_from(">ibh", payload, 0)
        if answered_id != correlation_id or error != 0:
            return None
        name_len = payload[8] - 1  # compact string lengths here are single-byte varints
        offset = 9 + name_len + 1  # past the name and the partitions array's length
        _partition, partition_error, leader = struct.unpack_from(">ihi", payload, offset)
    except (OSError, struct.error, IndexError):
        return None
    return leader if partition_error == 0 and leader >= 0 else None
