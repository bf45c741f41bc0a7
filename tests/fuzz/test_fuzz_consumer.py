"""Malformed Kafka messages are dead-lettered and the consumer goes on (notifications, in-process).

Bad JSON, an unknown schema version, missing CloudEvents headers, an oversized payload, a key that is
not the complaint id, and random bytes (seeded): each must land on `complaint.created.dlq`
with its reason, and a good event produced after all of them must still be handled.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from complaints_common.events.contracts import ComplaintCreatedV1
from complaints_common.events.envelope import COMPLAINT_CREATED_V1, MAX_EVENT_BYTES, Event, encode_event
from complaints_devstack.factories import complaint_created
from complaints_devstack.polling import eventually
from complaints_devstack.service_testing import running_service
from complaints_devstack.service_testing import test_settings as service_settings
from complaints_notifications.main import SERVICE
from complaints_notifications.settings import NotificationSettings

pytestmark = [pytest.mark.integration, pytest.mark.every_broker]

Headers = list[tuple[str, bytes]]


def good_event() -> Event[ComplaintCreatedV1]:
    return complaint_created(customer_id="CUST-FUZZ", contact={"email": "fuzz@example.com"})


def record(event: Event[Any]) -> tuple[bytes, bytes, Headers]:
    encoded = encode_event(event)
    return encoded.key, encoded.value, encoded.headers


def malformed_records() -> dict[str, tuple[bytes | None, bytes, Headers]]:
    """Each kind of bad message, built from a good one with one thing broken."""
    cases: dict[str, tuple[bytes | None, bytes, Headers]] = {}
    key, value, headers = record(good_event())
    cases["bad json"] = (key, b'{"complaint_id": ', headers)
    cases["unknown schema version"] = (
        key,
        value,
        [(k, b"complaints.complaint.created.v99" if k == "ce_type" else v) for k, v in headers],
    )
    cases["missing headers"] = (key, value, [])
    cases["oversized payload"] = (key, b'{"pad": "' + b"x" * (MAX_EVENT_BYTES + 10) + b'"}', headers)
    cases["wrong key"] = (str(uuid.uuid4()).encode(), value, headers)
    cases["no key"] = (None, value, headers)
    cases["non-utf8 header"] = (key, value, [*headers[:-1], (headers[-1][0], b"\xff\xfe")])
    # Random bytes as the value, and random bytes in every CloudEvents header (seeded: repeatable).
    rng = random.Random(8)
    cases["random bytes"] = (key, rng.randbytes(2048), headers)
    cases["random header values"] = (key, value, [(k, rng.randbytes(rng.randint(0, 64))) for k, _ in headers])
    return cases


async def dead_letters(bootstrap: str, topic: str, wanted: int, timeout: float) -> dict[str, str]:
    """fuzz_case header -> dlq_reason of what reached the dead-letter topic."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        request_timeout_ms=5000,
    )
    await consumer.start()
    found: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(found) < wanted and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for rec in records:
                    hdrs = {k: v for k, v in rec.headers}
                    if "fuzz_case" in hdrs:
                        found[hdrs["fuzz_case"].decode()] = hdrs.get("dlq_reason", b"").decode()
    finally:
        await consumer.stop()
    return found


async def test_malformed_messages_are_dead_lettered_and_the_consumer_goes_on(
    database_url: str, kafka_bootstrap: str, topics: str
) -> None:
    settings = service_settings(NotificationSettings, database_url, kafka_bootstrap, topics)
    topic = settings.topic(COMPLAINT_CREATED_V1.topic.name)
    cases = malformed_records()
    good = good_event()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=4 * MAX_EVENT_BYTES)
    await producer.start()
    try:
        async with running_service(SERVICE, settings):
            for name, (key, value, headers) in cases.items():
                await producer.send_and_wait(
                    topic, value=value, key=key, headers=[*headers, ("fuzz_case", name.encode())]
                )
            key, value, headers = record(good)
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)

            conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
            try:

                async def good_handled() -> bool:
                    query = "SELECT count(*) FROM notifications.inbox WHERE message_id = $1"
                    return bool(await conn.fetchval(query, good.id))

                handled = await eventually(good_handled)
            finally:
                await conn.close()
            parked = await dead_letters(kafka_bootstrap, topic + ".dlq", len(cases), timeout=30)
    finally:
        await producer.stop()

    assert handled, "the good event after the malformed ones was not handled"
    assert set(parked) == set(cases), f"not dead-lettered: {set(cases) - set(parked)}"
    assert all(reason == "malformed" for reason in parked.values()), json.dumps(parked)
