"""The embedded Apache Kafka cluster: three KRaft nodes that keep their data through a crash."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from complaints_common.events.topics import COMPLAINT_CREATED
from complaints_common.kafka import broker_profile
from complaints_devstack import kafka
from complaints_devstack.broker import create_topics
from complaints_devstack.polling import eventually
from complaints_devstack.testing import BrokerUnderTest, brokers_under_test

pytestmark = [
    pytest.mark.integration,
    pytest.mark.every_broker,
    pytest.mark.skipif(
        "kafka" not in brokers_under_test(os.environ)[0], reason="Apache Kafka is not under test"
    ),
]


@pytest.fixture
def apache_kafka(kafka_broker: BrokerUnderTest) -> BrokerUnderTest:
    """The session's Apache Kafka cluster; these tests are about Kafka itself, so the Tansu run of
    them is skipped (a parametrisation of their own would start a second cluster)."""
    if kafka_broker.cluster is None:
        pytest.skip("about the embedded Apache Kafka cluster itself")
    return kafka_broker


async def _leaders(bootstrap: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return {p["partition"]: p["leader"] for p in described["partitions"]}


async def test_the_cluster_is_apache_kafka_with_production_topic_settings(
    apache_kafka: BrokerUnderTest, topic_prefix: str
) -> None:
    assert apache_kafka.cluster is not None
    assert sorted(apache_kafka.cluster.running_nodes()) == [1, 2, 3]
    assert (await broker_profile(apache_kafka.bootstrap)).apache_kafka
    await create_topics(
        apache_kafka.bootstrap, [COMPLAINT_CREATED], topic_prefix, replication_factor=3, min_insync_replicas=2
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=apache_kafka.bootstrap)
    await admin.start()
    try:

        async def partitions() -> list[dict[str, Any]]:
            # A topic just created may be described before every node's metadata has its partitions.
            (described,) = await admin.describe_topics([topic_prefix + COMPLAINT_CREATED.name])
            return list(described["partitions"])

        described_partitions = await eventually(partitions)
        # Automatic topic creation is off, as in production: producing to a missing topic fails.
        producer = AIOKafkaProducer(bootstrap_servers=apache_kafka.bootstrap, request_timeout_ms=2000)
        await producer.start()
        try:
            with pytest.raises(Exception):  # noqa: B017 - KafkaTimeoutError: the topic never appears
                await asyncio.wait_for(producer.send_and_wait(topic_prefix + "not.created", b"x"), 5)
        finally:
            await producer.stop()
        assert topic_prefix + "not.created" not in await admin.list_topics()
    finally:
        await admin.close()
    assert {len(p["replicas"]) for p in described_partitions} == {3}


async def test_a_killed_leader_loses_no_acknowledged_message(
    apache_kafka: BrokerUnderTest, topic_prefix: str
) -> None:
    """kill -9 the leader of partition 0 mid-stream: acks=all writes go on to the two left, and the
    node comes back with its data (Tansu would have forgotten everything)."""
    cluster = apache_kafka.cluster
    assert cluster is not None
    topic = topic_prefix + COMPLAINT_CREATED.name
    await create_topics(
        apache_kafka.bootstrap, [COMPLAINT_CREATED], topic_prefix, replication_factor=3, min_insync_replicas=2
    )
    leader = (await _leaders(apache_kafka.bootstrap, topic))[0]
    producer = AIOKafkaProducer(
        bootstrap_servers=apache_kafka.bootstrap,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=10000,
    )
    await producer.start()
    try:
        for i in range(50):
            await producer.send_and_wait(topic, b"before-%d" % i, partition=0)
        cluster.kill_node(leader)
        for i in range(50):
            await producer.send_and_wait(topic, b"after-%d" % i, partition=0)
        await asyncio.to_thread(cluster.start_node, leader)
    finally:
        await producer.stop()
    assert sorted(cluster.running_nodes()) == [1, 2, 3]
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=apache_kafka.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        values: list[bytes] = []
        while len(values) < 100:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            values += [record.value for records in batch.values() for record in records if record.value]
    finally:
        await consumer.stop()
    assert values == [b"before-%d" % i for i in range(50)] + [b"after-%d" % i for i in range(50)]


def test_the_version_comes_from_the_maven_descriptor() -> None:
    assert kafka.kafka_version().startswith("4.")
    assert (kafka.cache_dir() / "libs" / f"kafka_2.13-{kafka.kafka_version()}.jar").is_file()
