"""A worker is ready only when its consumers hold partitions and its relay leads or stands by."""

from __future__ import annotations

from typing import Any

import pytest

from complaints_common.api import NotReady
from complaints_common.consumer import ConsumerRunner
from complaints_common.db import schema_metadata
from complaints_common.messaging import Inbox
from complaints_common.relay import OutboxRelay
from complaints_common.settings import ServiceSettings


class Assigned:
    """What the readiness probe asks of an aiokafka consumer: the partitions it holds now."""

    def __init__(self, *partitions: int) -> None:
        self.partitions = set(partitions)

    def assignment(self) -> set[int]:
        return self.partitions


def fake(consumer: Assigned) -> Any:
    return consumer


def runner() -> ConsumerRunner:
    unused: Any = None  # the probe reads no database or producer
    return ConsumerRunner(
        group="svc",
        subscriptions=[],
        settings=ServiceSettings(),
        db=unused,
        inbox=Inbox(schema_metadata("svc")),
        producer=unused,
    )


def test_a_consumer_is_ready_once_it_holds_partitions_and_stays_so_through_a_rebalance() -> None:
    consumer = runner()
    assert consumer.not_ready() == "consumer group svc has not started"
    consumer._consumer = fake(Assigned())
    assert consumer.not_ready() == "consumer group svc has not been assigned partitions yet"
    consumer._consumer = fake(Assigned(0, 1))
    assert consumer.not_ready() is None
    consumer._consumer = fake(Assigned())  # another replica joined
    assert consumer.not_ready() is None


def test_the_relay_is_ready_leading_or_standing_by_not_before_it_asked() -> None:
    unused: Any = None
    relay = OutboxRelay(ServiceSettings(), "svc", unused)
    assert relay.not_ready() == "the outbox relay has not reached the database yet"
    relay.leader = False  # another replica holds the lock: a hot standby is ready
    assert relay.not_ready() is None
    relay.leader = True
    assert relay.not_ready() is None


async def test_workers_ready_names_everything_still_awaited() -> None:
    from complaints_common.runtime import Runtime

    unused: Any = None
    runtime = Runtime(ServiceSettings(), schema_metadata("svc"), unused, unused, unused)
    with pytest.raises(NotReady, match="loops have not started"):
        await runtime.workers_ready()
    runtime.worker_probes[:] = [lambda: "relay waits", lambda: None, lambda: "consumer waits"]
    with pytest.raises(NotReady, match=r"^relay waits; consumer waits$"):
        await runtime.workers_ready()
    runtime.worker_probes[:] = [lambda: None]
    await runtime.workers_ready()
