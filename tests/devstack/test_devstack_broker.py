"""The embedded broker and topic creation, against the session broker and a broker of our own."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from complaints_common.events.topics import COMPLAINT_CREATED, all_topics_with_dead_letters
from complaints_common.kafka import broker_profile
from complaints_devstack.broker import (
    EmbeddedBroker,
    EmbeddedBrokerError,
    answers_metadata,
    create_topics,
)
from complaints_devstack.broker import topic_partitions as partition_counts
from complaints_devstack.ports import free_port, port_in_use

pytestmark = [pytest.mark.integration, pytest.mark.every_broker]

# Tansu's first group generation is 0, after which aiokafka skips LeaveGroup: keep timeouts short.
CONSUMER_SETTINGS = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 300, "request_timeout_ms": 1500}


def test_broker_starts_stops_and_restarts_empty() -> None:
    broker = EmbeddedBroker(free_port())
    with broker:
        assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
        assert answers_metadata("127.0.0.1", broker.port)
        # Told apart from Apache Kafka by its ApiVersions: no idempotent producer, short fetch waits.
        assert not asyncio.run(broker_profile(broker.bootstrap_servers)).apache_kafka
        asyncio.run(create_topics(broker.bootstrap_servers, [COMPLAINT_CREATED]))
        broker.restart()
        assert broker.is_running()
        counts = asyncio.run(partition_counts(broker.bootstrap_servers, [COMPLAINT_CREATED.name]))
        assert counts == {}, "a restarted Tansu has forgotten its topics"
    assert not port_in_use(broker.port)
    broker.kill()  # harmless when stopped


def test_a_busy_port_gives_a_clear_error() -> None:
    with (
        EmbeddedBroker(free_port()) as broker,
        pytest.raises(EmbeddedBrokerError, match="already in use"),
    ):
        EmbeddedBroker(broker.port).start()


async def test_topics_get_their_partition_counts(kafka_bootstrap: str, topic_prefix: str) -> None:
    specs = all_topics_with_dead_letters()
    await create_topics(kafka_bootstrap, specs, prefix=topic_prefix)
    await create_topics(kafka_bootstrap, specs, prefix=topic_prefix)  # existing ones are fine
    names = [topic_prefix + s.name for s in specs]
    assert await partition_counts(kafka_bootstrap, names) == {
        topic_prefix + s.name: s.partitions for s in specs
    }


async def test_create_topics_is_bounded_when_no_broker_answers() -> None:
    with pytest.raises(Exception):  # noqa: B017 - a timeout or a connection error, both bounded
        await create_topics(f"127.0.0.1:{free_port()}", [COMPLAINT_CREATED], timeout_s=2.0)


async def test_a_message_round_trips(kafka_bootstrap: str, topics: str) -> None:
    topic = topics + COMPLAINT_CREATED.name
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"hello": 1}', key=b"complaint-1", headers=[("ce_id", b"1")])
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topics}round-trip",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **CONSUMER_SETTINGS,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 15)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"complaint-1", b'{"hello": 1}')
    assert ("ce_id", b"1") in list(message.headers)
