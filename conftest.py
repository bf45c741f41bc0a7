"""Real servers for every integration and end-to-end test, chosen once per session.

PostgreSQL: `COMPLAINTS_TEST_DATABASE_URL` (a postgresql+asyncpg URL to a database on a server where
the tests may create databases), else a testcontainers container when a Docker engine answers, else
an embedded PostgreSQL in a temporary directory on a free port.

Every service's schema is migrated once per session into a template database, by the services'
own `complaints-<svc> migrate`; `database_url` copies it for each test.

Kafka: `COMPLAINTS_TEST_KAFKA_BOOTSTRAP` ("host:port") for every broker-facing test; else the brokers
of `COMPLAINTS_TEST_BROKER` (`tansu`, `kafka` or `both`, the default where Java 17+ and Maven are
found; without them a line in the header says why Kafka was skipped): the embedded Tansu broker on a
free port, and Apache Kafka as a three-broker KRaft cluster (complaints_devstack.kafka, or a
testcontainers Kafka when Docker answers) with replication factor 3 and min.insync.replicas 2. A
test marked `every_broker` runs once per broker; any other test that needs a broker runs on the
first one only. Each broker starts once, when a test first needs it, and runs to the session's end.

Isolation is per test, not per session: `database_url` is a fresh database and `topics` a fresh set
of prefixed topics (services read `<SVC>_TOPIC_PREFIX`), so tests never see each other's data.
Set `COMPLAINTS_TEST_NO_DOCKER=1` to skip the Docker probe.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from complaints_common.events.topics import all_topics_with_dead_letters
from complaints_devstack import kafka
from complaints_devstack.broker import EmbeddedBroker, create_topics, delete_topics
from complaints_devstack.harness import ServiceSpec
from complaints_devstack.launcher import default_services, service_env
from complaints_devstack.ports import free_port
from complaints_devstack.postgres import EmbeddedPostgres
from complaints_devstack.service_testing import at_head
from complaints_devstack.testing import (
    BrokerUnderTest,
    brokers_under_test,
    create_database,
    docker_available,
    drop_database,
    require_asyncpg_url,
    scratch_dir,
    unique_database_name,
    unique_topic_prefix,
)

POSTGRES_IMAGE = os.environ.get("COMPLAINTS_TEST_POSTGRES_IMAGE", "postgres:18-alpine")
KAFKA_IMAGE = os.environ.get("COMPLAINTS_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
# Durability is not what these tests measure; fsync=off makes CREATE DATABASE and commits cheap
# while a SIGKILL of the server still loses nothing (the OS page cache keeps the writes).
EMBEDDED_PG_SETTINGS = {"fsync": "off", "full_page_writes": "off"}


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a maintenance database on a server where tests may create databases."""
    configured = os.environ.get("COMPLAINTS_TEST_DATABASE_URL")
    if configured:
        yield require_asyncpg_url(configured, "COMPLAINTS_TEST_DATABASE_URL")
    elif docker_available():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, driver="asyncpg") as container:
            yield container.get_connection_url()
    else:
        with (
            scratch_dir("complaints-test-pg-") as base,
            EmbeddedPostgres(base / "pgdata", free_port(), settings=EMBEDDED_PG_SETTINGS) as server,
        ):
            yield server.url("postgres")


@pytest.fixture(scope="session")
async def migrated_template(pg_server_url: str) -> str:
    """A database with every service's schema migrated to head, once per session, by each service's
    own `complaints-<svc> migrate` (the four at once); `database_url` copies it for each test."""
    name = unique_database_name("template_")
    url = await create_database(pg_server_url, name)

    async def migrate(spec: ServiceSpec) -> None:
        assert spec.migrate is not None
        env = service_env(
            spec, base_env=os.environ, database_url=url, kafka_bootstrap="127.0.0.1:1", api_keys_json="[]"
        )
        process = await asyncio.create_subprocess_exec(
            *spec.migrate, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
        failure = stderr.decode(errors="replace")[-3000:]
        assert process.returncode == 0, f"{spec.name} migrate failed: {failure}"

    await asyncio.gather(*(migrate(spec) for spec in default_services({})))
    return name


@pytest.fixture
async def database_url(pg_server_url: str, migrated_template: str) -> AsyncIterator[str]:
    """A fresh database for one test (dropped afterwards, best effort): a copy of the migrated
    template, so every service's schema is there at head and nothing else is."""
    name = unique_database_name()
    url = at_head(await create_database(pg_server_url, name, template=migrated_template))
    yield url
    try:
        await drop_database(pg_server_url, name)
    except Exception as exc:  # a leftover test database is harmless; a failed teardown is noise
        print(f"could not drop test database {name}: {exc}")


@pytest.fixture
async def empty_database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh database with no schema at all, for tests of how a schema comes to be (its owner,
    its grants); dropped afterwards, best effort."""
    name = unique_database_name()
    url = await create_database(pg_server_url, name)
    yield url
    try:
        await drop_database(pg_server_url, name)
    except Exception as exc:  # a leftover test database is harmless; a failed teardown is noise
        print(f"could not drop test database {name}: {exc}")


CONFIGURED_KAFKA = os.environ.get("COMPLAINTS_TEST_KAFKA_BOOTSTRAP")
BROKERS, KAFKA_SKIPPED = (["configured"], None) if CONFIGURED_KAFKA else brokers_under_test(os.environ)
ONE_BROKER = BROKERS[0]
_kafka_start_seconds: list[float] = []


def pytest_report_header() -> list[str]:
    return [f"brokers: {', '.join(BROKERS)}", *([KAFKA_SKIPPED] if KAFKA_SKIPPED else [])]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for seconds in _kafka_start_seconds:
        terminalreporter.write_line(
            f"Apache Kafka {kafka.kafka_version()}: 3-broker cluster started in {seconds:.1f} s"
        )
    if KAFKA_SKIPPED:
        terminalreporter.write_line(KAFKA_SKIPPED)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "every_broker: a broker-facing test, run once per broker under test (others run on one broker)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that needs a broker runs on ONE_BROKER; one marked `every_broker` runs once per
    broker in BROKERS. (A service's HTTP, tenant and domain tests need a broker for their relay
    and consumers, but what they prove does not depend on which one.)"""
    if "kafka_broker" in metafunc.fixturenames:
        every = metafunc.definition.get_closest_marker("every_broker") is not None
        brokers = BROKERS if every else [ONE_BROKER]
        metafunc.parametrize("kafka_broker", brokers, indirect=True, scope="session")


@contextmanager
def _started_broker(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerUnderTest]:
    if kind == "configured":
        assert CONFIGURED_KAFKA
        yield BrokerUnderTest("configured", CONFIGURED_KAFKA)
    elif kind == "tansu":
        log_path = tmp_path_factory.mktemp("embedded-broker") / "broker.log"
        with EmbeddedBroker(free_port(), log_path=log_path) as broker:
            yield BrokerUnderTest("tansu", broker.bootstrap_servers)
    elif docker_available():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield BrokerUnderTest("kafka", container.get_bootstrap_server())
    else:
        # Not under tmp_path: a concurrent pytest session may prune this one's numbered directory.
        with (
            scratch_dir("complaints-test-kafka-") as workdir,
            kafka.EmbeddedKafkaCluster(workdir, java_opts=kafka.TEST_JAVA_OPTS) as cluster,
        ):
            assert cluster.start_seconds is not None
            _kafka_start_seconds.append(cluster.start_seconds)
            yield BrokerUnderTest(
                "kafka",
                cluster.bootstrap_servers,
                replication_factor=kafka.REPLICATION_FACTOR,
                min_insync_replicas=kafka.MIN_INSYNC_REPLICAS,
                cluster=cluster,
            )


@pytest.fixture(scope="session")
def _brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], BrokerUnderTest]]:
    """Each broker starts on first use and runs until the session ends: pytest tears a
    parametrised session fixture down whenever the next test wants the other broker."""
    with ExitStack() as stack:
        started: dict[str, BrokerUnderTest] = {}

        def broker(kind: str) -> BrokerUnderTest:
            if kind not in started:
                started[kind] = stack.enter_context(_started_broker(kind, tmp_path_factory))
            return started[kind]

        yield broker


@pytest.fixture(scope="session")
def kafka_broker(
    request: pytest.FixtureRequest, _brokers: Callable[[str], BrokerUnderTest]
) -> BrokerUnderTest:
    """A Kafka-protocol broker (parametrised by pytest_generate_tests)."""
    return _brokers(request.param)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: BrokerUnderTest) -> str:
    """ "host:port[,host:port...]" of the broker this run of the test is on."""
    return kafka_broker.bootstrap


@pytest.fixture(name="scratch_dir")
def scratch_dir_fixture() -> Iterator[Path]:
    """A temporary directory for a test's own embedded PostgreSQL (see testing.scratch_dir)."""
    with scratch_dir() as path:
        yield path


@pytest.fixture
def topic_prefix() -> str:
    """A topic-name prefix of this test's own, e.g. `t3fa9c2d1.`."""
    return unique_topic_prefix()


@pytest.fixture
async def topics(
    kafka_broker: BrokerUnderTest, kafka_bootstrap: str, topic_prefix: str
) -> AsyncIterator[str]:
    """Every platform topic (and dead-letter topic) created under `topic_prefix`; yields the prefix."""
    specs = all_topics_with_dead_letters()
    await create_topics(
        kafka_bootstrap,
        specs,
        prefix=topic_prefix,
        replication_factor=kafka_broker.replication_factor,
        min_insync_replicas=kafka_broker.min_insync_replicas,
    )
    yield topic_prefix
    try:
        await delete_topics(kafka_bootstrap, specs, prefix=topic_prefix, timeout_s=5.0)
    except Exception as exc:  # the broker may have been killed by a fault test
        print(f"could not delete topics {topic_prefix}*: {exc}")
