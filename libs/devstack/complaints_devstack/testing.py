"""Helpers behind the pytest fixtures in tests/conftest.py: pick a server, make throwaway databases.

Kept out of conftest.py so they are typed, linted and usable from other test suites too.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from complaints_common.db import asyncpg_dsn
from complaints_devstack import kafka

ASYNCPG_SCHEME = "postgresql+asyncpg://"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


BROKER_CHOICES = ("tansu", "kafka", "both")


def brokers_under_test(environ: Mapping[str, str]) -> tuple[list[str], str | None]:
    """The brokers the broker-facing tests run on (`COMPLAINTS_TEST_BROKER`, default both), and one
    line saying why Apache Kafka was left out when Java or Maven is missing (None otherwise)."""
    wanted = environ.get("COMPLAINTS_TEST_BROKER", "both").strip().lower() or "both"
    if wanted not in BROKER_CHOICES:
        raise ValueError(f"COMPLAINTS_TEST_BROKER must be one of {', '.join(BROKER_CHOICES)}, got {wanted!r}")
    if wanted == "tansu":
        return ["tansu"], None
    reason = None if docker_available() else kafka.unavailable_reason()
    if reason is None:
        return (["tansu", "kafka"] if wanted == "both" else ["kafka"]), None
    if wanted == "kafka":
        raise RuntimeError(f"COMPLAINTS_TEST_BROKER=kafka, but Apache Kafka cannot run here: {reason}")
    return ["tansu"], f"Apache Kafka skipped ({reason}): the broker-facing tests run on Tansu only"


@dataclass(frozen=True)
class BrokerUnderTest:
    """The broker a test runs against: what kind, where, and how its topics are replicated."""

    kind: str
    bootstrap: str
    replication_factor: int = 1
    min_insync_replicas: int = 1
    # The embedded Apache Kafka cluster, for tests that kill or restart one of its brokers.
    cluster: kafka.EmbeddedKafkaCluster | None = None


def docker_available(timeout_s: float = 3.0) -> bool:
    """True when a Docker engine answers a ping. Without an engine this fails in milliseconds."""
    if os.environ.get("COMPLAINTS_TEST_NO_DOCKER"):
        return False
    try:
        import docker

        client = docker.from_env(timeout=int(max(1, timeout_s)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        # DockerException (no engine), a missing package, an unreachable DOCKER_HOST: all "no".
        return False


@contextmanager
def scratch_dir(prefix: str = "complaints-test-") -> Iterator[Path]:
    """A temporary directory for an embedded PostgreSQL's data, removed afterwards.

    Not under pytest's tmp_path: as root the server runs as another user who must traverse every
    parent directory, and each new pytest session chmods /tmp/pytest-of-<user> back to 0700,
    which would break a server started by a concurrent session.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def require_asyncpg_url(url: str, source: str) -> str:
    if not url.startswith(ASYNCPG_SCHEME):
        raise ValueError(f"{source} must be a {ASYNCPG_SCHEME}... URL, got {url.split('://')[0]}://...")
    return url


def with_database(server_url: str, database: str) -> str:
    """The same server URL, pointing at another database (credentials and query kept)."""
    from sqlalchemy.engine import make_url

    url = make_url(server_url).set(database=database)
    return url.render_as_string(hide_password=False)


def unique_database_name(prefix: str = "t_") -> str:
    return f"{prefix}{secrets.token_hex(6)}"


def unique_topic_prefix() -> str:
    """A topic name prefix of its own for one test, e.g. `t3fa9c2d1.`."""
    return f"t{secrets.token_hex(4)}."


def _check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain lower-case identifier: {name!r}")
    return name


async def _execute_on_server(server_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(server_url), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """Create database `name` on the server of server_url (a copy of database `template` if given);
    returns its URL."""
    copy = f' TEMPLATE "{_check_identifier(template)}"' if template else ""
    await _execute_on_server(server_url, f'CREATE DATABASE "{_check_identifier(name)}"{copy}')
    return with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    """Drop database `name`, disconnecting anyone still connected (PostgreSQL 13+)."""
    await _execute_on_server(server_url, f'DROP DATABASE IF EXISTS "{_check_identifier(name)}" WITH (FORCE)')
