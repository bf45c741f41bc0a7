"""Replaying a dead-letter topic: an operator's tool once the cause of the failures is fixed.

    complaints-<svc> replay-dlq --topic complaint.created.dlq

Reads the dead-letter topic from the first record this service has not replayed yet, sends each
record that *this service's* consumer group parked back to its original topic, untouched but for the
`dlq_*` headers, and commits its position, so a second run does not replay the same record twice.
The consumers' inboxes make a replay of something already applied harmless.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer, ConsumerRecord

from complaints_common.events.topics import DEAD_LETTER_SUFFIX
from complaints_common.kafka import new_consumer, new_producer
from complaints_common.settings import ServiceSettings

log = logging.getLogger(__name__)
DLQ_HEADER_PREFIX = "dlq_"
IDLE_TIMEOUT_MS = 2000


async def replay_dead_letters(settings: ServiceSettings, group: str, topic: str) -> int:
    """Replay `topic` (a logical `<topic>.dlq` name); returns how many records were sent back."""
    if not topic.endswith(DEAD_LETTER_SUFFIX):
        raise ValueError(f"{topic!r} is not a dead-letter topic (it must end in {DEAD_LETTER_SUFFIX})")
    # Its own group (the service's name + "-dlq-replay"): its position is the replay's, not the
    # consumers'; the service's KafkaUser holds the group ACLs by the service's name as prefix.
    consumer = await new_consumer(settings, f"{group}-dlq-replay", [settings.topic(topic)])
    producer = await new_producer(settings)
    await consumer.start()
    await producer.start()
    replayed = 0
    try:
        while batch := await consumer.getmany(timeout_ms=IDLE_TIMEOUT_MS):
            for records in batch.values():
                for record in records:
                    replayed += await _replay(producer, record, group)
            await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    return replayed


async def _replay(producer: AIOKafkaProducer, record: ConsumerRecord[bytes, bytes], group: str) -> int:
    headers = dict(record.headers or ())
    if headers.get("dlq_consumer_group", b"").decode() != group:
        return 0  # another service's dead letter on a shared topic: theirs to replay
    original = headers.get("dlq_original_topic", b"").decode()
    if not original:
        log.warning("dead letter without its original topic skipped", extra={"offset": record.offset})
        return 0
    kept = [(k, v) for k, v in record.headers or () if not k.startswith(DLQ_HEADER_PREFIX)]
    await producer.send_and_wait(original, value=record.value, key=record.key, headers=kept)
    return 1


def replay_command(settings: ServiceSettings, group: str, topic: str) -> None:
    count = asyncio.run(replay_dead_letters(settings, group, topic))
    print(f"{count} dead-lettered records sent back to their topic")
