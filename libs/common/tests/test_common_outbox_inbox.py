"""The outbox relay and the consumer runner against a real PostgreSQL and a real Kafka-protocol broker.

Every test gets a fresh database (a scratch service schema `testsvc` with outbox, inbox and an effects
table) and its own prefixed topics, so tests never see each other's rows or messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, OutOfOrderSequenceNumber
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict
from sqlalchemy import BigInteger, Column, Identity, Table, Text, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common import consumer as consumer_module
from complaints_common import relay as relay_module
from complaints_common.consumer import ConsumerRunner, Handler, Subscription
from complaints_common.db import Database, asyncpg_dsn, schema_metadata
from complaints_common.dlq import replay_dead_letters
from complaints_common.errors import DomainError, is_transient, safe_error
from complaints_common.events.contracts import ComplaintCreatedV1
from complaints_common.events.envelope import (
    COMPLAINT_CREATED_V1,
    COMPLAINT_STATUS_CHANGED_V1,
    MAX_EVENT_BYTES,
    Event,
    decode_event,
    encode_event,
    headers_dict,
)
from complaints_common.kafka import new_consumer, new_producer
from complaints_common.messaging import Inbox, Outbox, inbox_table, notify_trigger_ddl, outbox_table
from complaints_common.relay import OutboxRelay, republish_since
from complaints_common.settings import ServiceSettings
from complaints_devstack.factories import complaint_created, status_changed
from complaints_devstack.polling import until

pytestmark = [pytest.mark.integration, pytest.mark.every_broker]

SCHEMA = "testsvc"
GROUP = "testgrp"
SOURCE = "/complaints/testsvc"
TIMEOUT_S = 20.0
SECRET_EMAIL = "barnaby.fizzlewick+inbox@example.invalid"

LoopFn = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


# --- fixtures and helpers -----------------------------------------------------------------------------


@dataclass
class Scratch:
    """A service schema of our own: outbox, inbox and a table the test handlers write their effects to."""

    db: Database
    outbox: Outbox
    inbox: Inbox
    effects: Table

    async def write(self, *events: Event[Any]) -> None:
        async with self.db.transaction() as session:
            await self.outbox.add(session, *events)

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.db.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> Sequence[Any]:
        async with self.db.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    async def unpublished(self) -> int:
        return int(await self.scalar(f"SELECT count(*) FROM {SCHEMA}.outbox WHERE published_at IS NULL"))

    async def effect_counts(self) -> dict[str, int]:
        rows = await self.rows(f"SELECT event_id, count(*) FROM {SCHEMA}.effects GROUP BY event_id")
        return {event_id: count for event_id, count in rows}


@pytest.fixture
async def scratch(database_url: str) -> AsyncIterator[Scratch]:
    metadata = schema_metadata(SCHEMA)
    outbox_table(metadata)
    inbox_table(metadata)
    effects = Table(
        "effects",
        metadata,
        Column("n", BigInteger, Identity(), primary_key=True),
        Column("event_id", Text, nullable=False),
        Column("complaint_id", Text, nullable=False),
    )
    db = Database(database_url, pool_size=5)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
            await conn.run_sync(metadata.create_all)
            for ddl in notify_trigger_ddl(SCHEMA):
                await conn.execute(text(ddl))
        yield Scratch(db=db, outbox=Outbox(metadata), inbox=Inbox(metadata), effects=effects)
    finally:
        await db.dispose()


class IsolatedSettings(ServiceSettings):
    """Settings no stray variable of the environment reaches (the base class reads unprefixed ones)."""

    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_COMMON_TESTS_UNUSED_")


@pytest.fixture
def make_settings(database_url: str, kafka_bootstrap: str, topics: str) -> Callable[..., ServiceSettings]:
    def make(**overrides: Any) -> ServiceSettings:
        values: dict[str, Any] = {
            "service_name": "testsvc",
            "database_url": SecretStr(database_url),
            "kafka_bootstrap_servers": kafka_bootstrap,
            "topic_prefix": topics,
            "kafka_session_timeout_ms": 2000,
            "kafka_heartbeat_interval_ms": 300,
            "kafka_request_timeout_ms": 1500,
            "outbox_poll_interval_s": 0.1,
            "consumer_max_attempts": 3,
        }
        values.update(overrides)
        return IsolatedSettings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., ServiceSettings]) -> ServiceSettings:
    return make_settings()


@pytest.fixture
async def producer(settings: ServiceSettings) -> AsyncIterator[AIOKafkaProducer]:
    client = await new_producer(settings)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


class CountingProducer(AIOKafkaProducer):
    """A real producer that counts what went through it (to see which relay did the sending)."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.sent = 0

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        self.sent += 1
        return await super().send(*args, **kwargs)


class FailingProducer(CountingProducer):
    """A real producer whose first `failures` sends fail as a broker timeout would."""

    def __init__(self, failures: int, **config: Any) -> None:
        super().__init__(**config)
        self.failures = failures

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise KafkaTimeoutError("simulated broker timeout")
        return await super().send(*args, **kwargs)


class BrokenProducer(CountingProducer):
    """A real producer whose idempotent sequence is broken: every send fails, as after Apache
    Kafka answered OutOfOrderSequenceNumber (its sender has stopped for good)."""

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        raise OutOfOrderSequenceNumber()


class TopicReader:
    """A group-less consumer of one topic from its beginning; keeps everything it has read."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            request_timeout_ms=5000,
        )

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def poll(self, timeout_ms: int = 100) -> None:
        batch = await self._consumer.getmany(timeout_ms=timeout_ms)
        for records in batch.values():
            self.records.extend(records)

    async def read_at_least(
        self, count: int, timeout: float = TIMEOUT_S
    ) -> list[ConsumerRecord[bytes, bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.records) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.topic}: {len(self.records)} of {count} records within {timeout} s"
                )
            await self.poll()
        return self.records

    async def settle(self, seconds: float = 0.5) -> list[ConsumerRecord[bytes, bytes]]:
        """Keep reading for a while, so a record sent twice would show up."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.poll()
        return self.records


@dataclass
class Running:
    task: asyncio.Task[None]
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self) -> None:
        if self.task.done():
            raise AssertionError(f"the loop ended early: {self.task.exception()!r}")


@asynccontextmanager
async def running(loop: LoopFn) -> AsyncIterator[Running]:
    """Run a relay's or a consumer's loop as a task; always stop it and wait for it."""
    stop = asyncio.Event()
    handle = Running(asyncio.create_task(loop(stop)), stop)
    try:
        yield handle
    finally:
        stop.set()
        await asyncio.wait_for(handle.task, TIMEOUT_S)


async def wait_until(
    condition: Callable[[], Awaitable[bool]],
    what: str,
    timeout: float = TIMEOUT_S,
    *loops: Running,
) -> None:
    """Until `condition` holds; a loop that died fails the wait at once."""

    def check() -> None:
        for loop in loops:
            loop.check()

    await until(condition, what, timeout, check=check)


async def wait_applied(scratch: Scratch, event: Event[Any], what: str, loop: Running) -> None:
    """Wait until the handler's effect of `event` is written, failing at once if the loop died."""

    async def applied() -> bool:
        return event.id in await scratch.effect_counts()

    await wait_until(applied, what, TIMEOUT_S, loop)


def complaint_event(complaint_id: UUID | None = None, n: int = 1) -> Event[ComplaintCreatedV1]:
    return complaint_created(
        complaint_id,
        f"cust-{n}",
        reference=f"CMP-{n:06d}",
        channel="email",
        category="delivery",
        source=SOURCE,
    )


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    """One header as text (without decoding the others: a dead letter may carry non-UTF-8 ones)."""
    for key, value in record.headers:
        if key == name and value is not None:
            return str(value.decode())
    return None


def ce_ids(records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[str]:
    return [str(header(r, "ce_id")) for r in records]


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- the outbox relay ---------------------------------------------------------------------------------


async def test_relay_sends_every_row_once_in_write_order_with_its_headers(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = provider.get_tracer("test")

    complaints = [uuid4() for _ in range(3)]
    written: list[Event[ComplaintCreatedV1]] = []
    traced: dict[str, str] = {}  # event id -> trace id of the transaction that wrote it

    async def write_round(n: int, *, in_span: bool) -> None:
        events = [complaint_event(cid, n) for cid in complaints]
        written.extend(events)
        if in_span:
            with tracer.start_as_current_span("file complaints") as span:
                await scratch.write(*events)
                trace_id = f"{span.get_span_context().trace_id:032x}"
            traced.update({e.id: trace_id for e in events})
        else:
            await scratch.write(*events)

    # Rows written before the relay starts and while it runs, some inside an active span.
    await write_round(1, in_span=False)
    await write_round(2, in_span=True)
    relay = OutboxRelay(settings, SCHEMA, producer)
    async with (
        TopicReader(kafka_bootstrap, settings.topic("complaint.created")) as reader,
        running(relay.run) as loop,
    ):
        await write_round(3, in_span=True)
        await write_round(4, in_span=False)
        await reader.read_at_least(len(written))
        await wait_until(lambda: _none_unpublished(scratch), "every row marked published", TIMEOUT_S, loop)
        records = await reader.settle()

    by_id = {e.id: e for e in written}
    assert sorted(ce_ids(records)) == sorted(by_id), "every event exactly once"
    for complaint_id in complaints:
        keyed = [r for r in records if r.key == str(complaint_id).encode()]
        expected = [e.id for e in written if e.data.complaint_id == complaint_id]
        assert ce_ids(keyed) == expected, "one complaint's events in the order they were written"
        assert len({r.partition for r in keyed}) == 1
    for record in records:
        event = by_id[str(header(record, "ce_id"))]
        assert record.key == event.subject.encode()
        assert decode_event(record.key, record.value, headers_dict(record.headers)) == event
        headers = headers_dict(record.headers)
        for name, value in event.ce_headers().items():
            assert headers[name] == value
        traceparent = headers.get("traceparent")
        if event.id in traced:
            assert traceparent is not None
            assert traceparent.split("-")[1] == traced[event.id], "the writer's trace continues"
        else:
            assert traceparent is None, "no trace context is invented for an untraced write"

    rows = await scratch.rows(f"SELECT published_at, attempts, last_error, created_at FROM {SCHEMA}.outbox")
    assert len(rows) == len(written)
    for published_at, attempts, last_error, created_at in rows:
        assert published_at is not None and published_at >= created_at
        assert attempts == 1
        assert last_error is None
    assert {s.name for s in spans.get_finished_spans()} == {"file complaints"}


async def _none_unpublished(scratch: Scratch) -> bool:
    return await scratch.unpublished() == 0


async def test_rows_written_while_the_relay_is_down_are_sent_by_the_next_one(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    complaint_id = uuid4()
    first = [complaint_event(complaint_id, n) for n in range(3)]
    meanwhile = [complaint_event(complaint_id, n) for n in range(3, 7)]
    async with TopicReader(kafka_bootstrap, settings.topic("complaint.created")) as reader:
        async with running(OutboxRelay(settings, SCHEMA, producer).run) as loop:
            await scratch.write(*first)
            await reader.read_at_least(len(first))
            await wait_until(lambda: _none_unpublished(scratch), "first rows published", TIMEOUT_S, loop)

        for event in meanwhile:
            await scratch.write(event)
        await reader.settle(0.5)
        assert len(reader.records) == len(first), "nothing is sent while no relay runs"
        assert await scratch.unpublished() == len(meanwhile)

        async with running(OutboxRelay(settings, SCHEMA, producer).run):
            records = await reader.read_at_least(len(first) + len(meanwhile))
            await wait_until(lambda: _none_unpublished(scratch), "every row published")
            records = await reader.settle()

    assert ce_ids(records) == [e.id for e in first + meanwhile], "nothing lost, nothing twice, in order"


async def test_two_relays_at_once_only_the_lock_holder_publishes(
    scratch: Scratch, settings: ServiceSettings, kafka_bootstrap: str
) -> None:
    producers = [CountingProducer(bootstrap_servers=kafka_bootstrap, acks="all") for _ in range(2)]
    for client in producers:
        await client.start()
    complaints = [uuid4() for _ in range(4)]
    batch1 = [complaint_event(cid, n) for n in range(5) for cid in complaints]
    batch2 = [complaint_event(cid, n) for n in range(5, 8) for cid in complaints]
    try:
        async with TopicReader(kafka_bootstrap, settings.topic("complaint.created")) as reader:
            relays = [OutboxRelay(settings, SCHEMA, client) for client in producers]
            async with running(relays[0].run) as loop_a, running(relays[1].run) as loop_b:
                loops = [loop_a, loop_b]
                for event in batch1:
                    await scratch.write(event)
                await reader.read_at_least(len(batch1))
                await wait_until(lambda: _none_unpublished(scratch), "batch 1 published", TIMEOUT_S, *loops)
                await reader.settle()
                sent = [client.sent for client in producers]
                assert sorted(sent) == [0, len(batch1)], f"exactly one relay sends: {sent}"
                assert sorted(ce_ids(reader.records)) == sorted(e.id for e in batch1)

                # The active relay goes away: the standby takes the lock over and carries on.
                leader = 0 if sent[0] else 1
                loops[leader].stop.set()
                await asyncio.wait_for(loops[leader].task, TIMEOUT_S)
                await scratch.write(*batch2)
                await reader.read_at_least(len(batch1) + len(batch2))
                await wait_until(
                    lambda: _none_unpublished(scratch), "batch 2 published", TIMEOUT_S, loops[1 - leader]
                )
                records = await reader.settle()
            assert producers[leader].sent == len(batch1)
            assert producers[1 - leader].sent == len(batch2)
    finally:
        for client in producers:
            await client.stop()

    assert sorted(ce_ids(records)) == sorted(e.id for e in batch1 + batch2), "each row exactly once"
    for complaint_id in complaints:
        keyed = [r for r in records if r.key == str(complaint_id).encode()]
        assert ce_ids(keyed) == [e.id for e in batch1 + batch2 if e.data.complaint_id == complaint_id]


async def test_notify_and_a_republish_wake_the_relay_long_before_its_poll_interval(
    scratch: Scratch,
    make_settings: Callable[..., ServiceSettings],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
) -> None:
    settings = make_settings(outbox_poll_interval_s=30.0)
    async with (
        TopicReader(kafka_bootstrap, settings.topic("complaint.created")) as reader,
        running(OutboxRelay(settings, SCHEMA, producer).run) as loop,
    ):
        await scratch.write(complaint_event())
        await reader.read_at_least(1, timeout=5.0)
        await wait_until(lambda: _none_unpublished(scratch), "first row published", 5.0, loop)
        await asyncio.sleep(0.3)  # the relay is now idle, waiting up to 30 s for work

        for expected in (2, 3):
            started = time.monotonic()
            await scratch.write(complaint_event())
            await reader.read_at_least(expected, timeout=5.0)
            elapsed = time.monotonic() - started
            assert elapsed < 2.0, f"a committed row took {elapsed:.2f} s to reach the topic"
        await wait_until(lambda: _none_unpublished(scratch), "every row published", 5.0, loop)
        await asyncio.sleep(0.3)
        # A re-publish updates rows (no insert, no trigger): it wakes the relay itself.
        started = time.monotonic()
        assert await republish_since(settings, SCHEMA, datetime.now(UTC) - timedelta(hours=1)) == 3
        await reader.read_at_least(6, timeout=5.0)
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, f"re-published rows took {elapsed:.2f} s to reach the topic"
        started = time.monotonic()
    assert time.monotonic() - started < 5.0, "a stop request does not wait for the poll interval"


async def test_republish_since_sends_rows_again(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    old = [complaint_event(n=n) for n in range(2)]
    recent = [complaint_event(n=n) for n in range(2, 5)]
    async with (
        TopicReader(kafka_bootstrap, settings.topic("complaint.created")) as reader,
        running(OutboxRelay(settings, SCHEMA, producer).run) as loop,
    ):
        await scratch.write(*old)
        since: datetime = await scratch.scalar("SELECT clock_timestamp()")
        await scratch.write(*recent)
        await reader.read_at_least(len(old) + len(recent))
        await wait_until(lambda: _none_unpublished(scratch), "rows published", TIMEOUT_S, loop)

        assert await republish_since(settings, SCHEMA, since) == len(recent)
        await reader.read_at_least(len(old) + 2 * len(recent))
        await wait_until(lambda: _none_unpublished(scratch), "re-published rows sent", TIMEOUT_S, loop)
        records = await reader.settle()

        again = ce_ids(records)[len(old) + len(recent) :]
        assert sorted(again) == sorted(e.id for e in recent), "only the rows since the point in time"

        assert await republish_since(settings, SCHEMA, since - timedelta(hours=1)) == 5
        await reader.read_at_least(2 * len(old) + 3 * len(recent))
        await wait_until(lambda: _none_unpublished(scratch), "all rows sent again", TIMEOUT_S, loop)
        records = await reader.settle()
    assert len(records) == 2 * len(old) + 3 * len(recent)
    assert await republish_since(settings, SCHEMA, datetime.now(UTC) + timedelta(hours=1)) == 0


async def test_a_failed_send_is_recorded_and_retried(
    scratch: Scratch, settings: ServiceSettings, kafka_bootstrap: str
) -> None:
    client = FailingProducer(failures=1, bootstrap_servers=kafka_bootstrap, acks="all")
    await client.start()
    events = [complaint_event(n=n) for n in range(3)]
    failures_before = counter("complaints_outbox_publish_failures_total")
    try:
        async with (
            TopicReader(kafka_bootstrap, settings.topic("complaint.created")) as reader,
            running(OutboxRelay(settings, SCHEMA, client).run) as loop,
        ):
            await scratch.write(*events)
            await reader.read_at_least(len(events))
            await wait_until(lambda: _none_unpublished(scratch), "rows published", TIMEOUT_S, loop)
            records = await reader.settle()
    finally:
        await client.stop()
    assert sorted(ce_ids(records)) == sorted(e.id for e in events)
    assert counter("complaints_outbox_publish_failures_total") == failures_before + 1
    rows = await scratch.rows(f"SELECT attempts, last_error FROM {SCHEMA}.outbox")
    assert sorted(rows) == [(2, None)] * len(events), "one failed attempt, then published; error cleared"


async def test_a_producer_that_can_no_longer_send_is_replaced_and_the_rows_go_out(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    broken = BrokenProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await broken.start()
    renewals: list[AIOKafkaProducer] = []

    async def renew() -> AIOKafkaProducer:
        renewals.append(producer)
        return producer

    events = [complaint_event(n=n) for n in range(2)]
    try:
        async with (
            TopicReader(kafka_bootstrap, settings.topic("complaint.created")) as reader,
            running(OutboxRelay(settings, SCHEMA, broken, renew).run) as loop,
        ):
            await scratch.write(*events)
            await wait_until(lambda: _none_unpublished(scratch), "rows published", TIMEOUT_S, loop)
            records = await reader.read_at_least(len(events))
    finally:
        await broken.stop()
    assert renewals == [producer], "replaced once, on the first failure"
    assert sorted(ce_ids(records)) == sorted(e.id for e in events)


async def test_a_failed_send_leaves_the_error_on_the_rows(
    scratch: Scratch, settings: ServiceSettings, kafka_bootstrap: str
) -> None:
    client = FailingProducer(failures=1_000_000, bootstrap_servers=kafka_bootstrap, acks="all")
    await client.start()
    try:
        async with running(OutboxRelay(settings, SCHEMA, client).run) as loop:
            await scratch.write(complaint_event(n=1), complaint_event(n=2))

            async def attempted_twice() -> bool:
                return bool(await scratch.scalar(f"SELECT min(attempts) >= 2 FROM {SCHEMA}.outbox"))

            await wait_until(attempted_twice, "two failed attempts", TIMEOUT_S, loop)
    finally:
        await client.stop()
    rows = await scratch.rows(f"SELECT published_at, last_error FROM {SCHEMA}.outbox")
    assert rows == [(None, "KafkaTimeoutError")] * 2, "the class name only, and nothing marked published"


async def test_the_relay_survives_losing_its_database_connection(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    before, after = complaint_event(n=1), complaint_event(n=2)
    async with (
        TopicReader(kafka_bootstrap, settings.topic("complaint.created")) as reader,
        running(OutboxRelay(settings, SCHEMA, producer).run) as loop,
    ):
        await scratch.write(before)
        await reader.read_at_least(1)
        await wait_until(lambda: _none_unpublished(scratch), "first row published", TIMEOUT_S, loop)

        killed = await scratch.scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        assert killed >= 1, "the relay's connection was terminated"
        await asyncio.sleep(0.3)
        loop.check()

        await scratch.write(after)
        await reader.read_at_least(2)
        await wait_until(
            lambda: _none_unpublished(scratch), "row after the reconnect published", TIMEOUT_S, loop
        )
        records = await reader.settle()
    assert ce_ids(records) == [before.id, after.id]


async def test_housekeeping_drops_rows_past_the_retention_window_only(
    scratch: Scratch,
    make_settings: Callable[..., ServiceSettings],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(relay_module, "HOUSEKEEPING_INTERVAL_S", 0.0)
    settings = make_settings(outbox_retention_hours=1)
    expired, retained, unsent = (complaint_event(n=n) for n in range(3))
    await scratch.write(expired, retained, unsent)
    async with scratch.db.transaction() as session:
        for event_id, published, created in (
            (expired.id, "now() - interval '2 hours'", "now() - interval '3 hours'"),
            (retained.id, "now() - interval '30 minutes'", "now() - interval '3 hours'"),
            (unsent.id, "NULL", "now() - interval '3 hours'"),
        ):
            await session.execute(
                text(
                    f"UPDATE {SCHEMA}.outbox SET published_at = {published}, created_at = {created} "
                    "WHERE id = :id"
                ),
                {"id": UUID(event_id)},
            )
        for message_id, age in (("old", "5 hours"), ("young", "3 hours")):
            await session.execute(
                text(
                    f"INSERT INTO {SCHEMA}.inbox (consumer_group, message_id, topic, received_at) "
                    f"VALUES ('g', :m, 't', now() - interval '{age}')"
                ),
                {"m": message_id},
            )

    async with (
        TopicReader(kafka_bootstrap, settings.topic("complaint.created")) as reader,
        running(OutboxRelay(settings, SCHEMA, producer).run) as loop,
    ):
        await reader.read_at_least(1)

        async def expired_gone() -> bool:
            return bool(await scratch.scalar(f"SELECT count(*) FROM {SCHEMA}.outbox") == 2)

        await wait_until(expired_gone, "the expired row deleted", TIMEOUT_S, loop)
        records = await reader.settle()

    assert ce_ids(records) == [unsent.id], "an old but unsent row is sent, never dropped"
    outbox_ids = {str(r[0]) for r in await scratch.rows(f"SELECT id FROM {SCHEMA}.outbox")}
    assert outbox_ids == {retained.id, unsent.id}
    inbox_ids = {r[0] for r in await scratch.rows(f"SELECT message_id FROM {SCHEMA}.inbox")}
    assert inbox_ids == {"young"}, "inbox ids are kept four times the outbox retention"


# --- the consumer runner ------------------------------------------------------------------------------


@dataclass
class Recorder:
    """A handler that applies an effect in the handler's transaction, and counts its calls."""

    scratch: Scratch
    calls: list[str] = field(default_factory=list)
    failures: dict[str, Callable[[int], BaseException | None]] = field(default_factory=dict)
    trace_ids: dict[str, int] = field(default_factory=dict)
    follow_on: bool = False

    async def __call__(self, session: AsyncConnection, event: Event[Any]) -> None:
        self.calls.append(event.id)
        self.trace_ids[event.id] = trace.get_current_span().get_span_context().trace_id
        if self.follow_on:
            await self.scratch.outbox.add(session, complaint_event(uuid4(), n=99))
        fail = self.failures.get(event.id)
        if fail is not None:
            exc = fail(self.calls.count(event.id))
            if exc is not None:
                raise exc
        await session.execute(
            self.scratch.effects.insert().values(event_id=event.id, complaint_id=event.subject)
        )


def make_runner(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, handler: Handler[Any]
) -> ConsumerRunner:
    return ConsumerRunner(
        group=GROUP,
        subscriptions=[Subscription(COMPLAINT_CREATED_V1, handler)],
        settings=settings,
        db=scratch.db,
        inbox=scratch.inbox,
        producer=producer,
    )


async def produce(
    producer: AIOKafkaProducer,
    topic: str,
    value: bytes | None,
    key: bytes | None,
    headers: list[tuple[str, bytes]],
) -> int:
    """Send one record to partition 0 (so records keep the order they are produced in); its offset."""
    metadata = await producer.send_and_wait(topic, value=value, key=key, headers=headers, partition=0)
    return int(metadata.offset)


async def produce_event(producer: AIOKafkaProducer, topic: str, event: Event[Any]) -> int:
    record = encode_event(event)
    return await produce(producer, topic, record.value, record.key, record.headers)


async def test_a_redelivered_event_takes_effect_once(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer
) -> None:
    topic = settings.topic("complaint.created")
    event, other = complaint_event(n=1), complaint_event(n=2)
    handler = Recorder(scratch)
    for e in (event, event, other, event):
        await produce_event(producer, topic, e)

    async with running(make_runner(scratch, settings, producer, handler).run) as loop:

        async def all_seen() -> bool:
            return (
                counter("complaints_consumer_messages_total", topic=topic, group=GROUP, outcome="duplicate")
                >= 2
            )

        await wait_until(all_seen, "both redeliveries seen", TIMEOUT_S, loop)

    assert await scratch.effect_counts() == {event.id: 1, other.id: 1}
    assert handler.calls == [event.id, other.id]
    assert counter("complaints_consumer_messages_total", topic=topic, group=GROUP, outcome="processed") == 2
    assert counter("complaints_consumer_messages_total", topic=topic, group=GROUP, outcome="duplicate") == 2
    inbox = await scratch.rows(f"SELECT consumer_group, message_id, topic FROM {SCHEMA}.inbox ORDER BY 2")
    assert sorted(inbox) == sorted([(GROUP, event.id, topic), (GROUP, other.id, topic)])


async def test_two_replicas_share_the_work_and_keep_each_complaints_order_across_rebalances(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer
) -> None:
    """Two consumers of one group (two replicas of a service): the second joining and the first
    leaving both rebalance the partitions mid-stream, yet every event takes effect once and each
    complaint's events take effect in the order they were produced."""
    topic = settings.topic("complaint.created")
    complaints = [uuid4() for _ in range(12)]
    events = [complaint_event(cid, n) for n in range(20) for cid in complaints]
    position = {event.id: i for i, event in enumerate(events)}
    first, second = Recorder(scratch), Recorder(scratch)
    stop_first, stop_second = asyncio.Event(), asyncio.Event()

    async def send(batch: list[Event[Any]]) -> None:
        for event in batch:  # keyed by complaint: the partitioner keeps a complaint on one partition
            record = encode_event(event)
            await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)

    async def effects_at_least(count: int) -> bool:
        return int(await scratch.scalar(f"SELECT count(*) FROM {SCHEMA}.effects")) >= count

    pending = iter(events[40:])

    async def second_at_work() -> bool:
        # The stream keeps flowing while the group rebalances, so the second has work once assigned.
        await send(list(itertools.islice(pending, 1)))
        return bool(second.calls)

    replica_a = asyncio.create_task(make_runner(scratch, settings, producer, first).run(stop_first))
    replica_b: asyncio.Task[None] | None = None
    try:
        await send(events[:40])
        await wait_until(lambda: effects_at_least(1), "the first replica at work")
        replica_b = asyncio.create_task(make_runner(scratch, settings, producer, second).run(stop_second))
        await wait_until(second_at_work, "the second replica given partitions and work", 60)
        stop_first.set()  # the first replica leaves: its partitions move to the second
        await asyncio.wait_for(replica_a, TIMEOUT_S)
        await send(list(pending))
        await wait_until(lambda: effects_at_least(len(events)), "every event applied", 60)
    finally:
        stop_first.set()
        stop_second.set()
        await asyncio.wait_for(asyncio.gather(replica_a, *([replica_b] if replica_b else [])), TIMEOUT_S)

    assert await scratch.effect_counts() == {event.id: 1 for event in events}, "each event exactly once"
    assert first.calls and second.calls, "both replicas did part of the work"
    applied = await scratch.rows(f"SELECT event_id, complaint_id FROM {SCHEMA}.effects ORDER BY n")
    for complaint_id in complaints:
        order = [position[event_id] for event_id, cid in applied if cid == str(complaint_id)]
        assert order == sorted(order), f"complaint {complaint_id} applied out of order: {order}"


async def test_malformed_records_are_dead_lettered_and_the_consumer_moves_on(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    topic = settings.topic("complaint.created")
    template = complaint_event()
    good_value = template.payload_json().encode()
    key = template.subject.encode()
    headers = encode_event(template).headers
    malformed: dict[str, tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = {
        "bad JSON": (b'{"complaint_id": ', key, headers),
        "unknown type": (
            good_value,
            key,
            [(k, b"complaints.complaint.created.v9" if k == "ce_type" else v) for k, v in headers],
        ),
        "missing headers": (good_value, key, []),
        "wrong key": (good_value, str(uuid4()).encode(), headers),
        "oversized payload": (good_value + b" " * MAX_EVENT_BYTES, key, headers),
        "non-UTF-8 header": (good_value, key, [*headers, ("x-note", b"\xff\xfe")]),
        "no value": (None, key, headers),
    }
    offsets: dict[str, int] = {}
    for name, (value, record_key, record_headers) in malformed.items():
        offsets[name] = await produce(producer, topic, value, record_key, record_headers)
    good = complaint_event(n=2)
    await produce_event(producer, topic, good)

    handler = Recorder(scratch)
    parked = await consume_past_the_poison(
        scratch, settings, producer, kafka_bootstrap, handler, good, len(malformed)
    )

    assert handler.calls == [good.id]
    assert await scratch.effect_counts() == {good.id: 1}
    assert len(parked) == len(malformed), "each poison record parked once"
    by_offset = {int(str(header(r, "dlq_original_offset"))): r for r in parked}
    assert set(by_offset) == set(offsets.values())
    for name, offset in offsets.items():
        value, record_key, record_headers = malformed[name]
        record = by_offset[offset]
        dlq_headers = {k: v for k, v in record.headers if k.startswith("dlq_")}
        assert dlq_headers["dlq_reason"] == b"malformed", name
        assert dlq_headers["dlq_error"].startswith(b"MalformedEvent: "), name
        assert dlq_headers["dlq_consumer_group"] == GROUP.encode()
        assert dlq_headers["dlq_original_topic"] == topic.encode()
        assert dlq_headers["dlq_original_partition"] == b"0"
        datetime.fromisoformat(dlq_headers["dlq_failed_at"].decode())
        assert record.value == value, f"{name}: the original value, untouched"
        assert record.key == record_key, name
        original = [h for h in record.headers if not h[0].startswith("dlq_")]
        assert original == record_headers, f"{name}: the original headers are kept"
    assert counter(
        "complaints_dead_letter_messages_total", topic=topic, group=GROUP, reason="malformed"
    ) == len(malformed)


async def test_a_known_type_the_consumer_does_not_handle_is_skipped_before_decoding(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer
) -> None:
    topic = settings.topic("complaint.created")
    template = complaint_event()
    other_type = COMPLAINT_STATUS_CHANGED_V1.ce_type.encode()
    headers = [(k, other_type if k == "ce_type" else v) for k, v in encode_event(template).headers]
    await produce(producer, topic, b"not even JSON: never decoded", template.subject.encode(), headers)
    good = complaint_event(n=2)
    await produce_event(producer, topic, good)

    handler = Recorder(scratch)
    async with running(make_runner(scratch, settings, producer, handler).run) as loop:
        await wait_applied(scratch, good, "the handled record after the skipped one", loop)

    assert handler.calls == [good.id]
    assert counter("complaints_consumer_messages_total", topic=topic, group=GROUP, outcome="skipped") == 1
    assert counter("complaints_dead_letter_messages_total", topic=topic, group=GROUP, reason="malformed") == 0
    inbox = await scratch.rows(f"SELECT message_id FROM {SCHEMA}.inbox")
    assert inbox == [(good.id,)], "a skipped record claims nothing in the inbox"


async def consume_past_the_poison(
    scratch: Scratch,
    settings: ServiceSettings,
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    handler: Handler[Any],
    last: Event[Any],
    dead_letters: int,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Consume until `last` took effect and `dead_letters` records were parked; what was parked."""
    topic = settings.topic("complaint.created")
    async with (
        TopicReader(kafka_bootstrap, topic + ".dlq") as dlq,
        running(make_runner(scratch, settings, producer, handler).run) as loop,
    ):
        await wait_applied(scratch, last, "the record after the poison", loop)
        await dlq.read_at_least(dead_letters)
        return await dlq.settle()


async def test_a_partitions_records_are_applied_in_one_transaction(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer
) -> None:
    topic = settings.topic("complaint.created")
    events = [complaint_event(n=n) for n in range(5)]
    for event in (*events, events[1]):  # and one redelivery inside the batch
        await produce_event(producer, topic, event)

    handler = Recorder(scratch)
    async with running(make_runner(scratch, settings, producer, handler).run) as loop:

        async def all_applied() -> bool:
            return len(await scratch.effect_counts()) == len(events)

        await wait_until(all_applied, "the batch applied", TIMEOUT_S, loop)

    assert handler.calls == [e.id for e in events], "in partition order, the redelivery dropped out"
    assert await scratch.effect_counts() == {e.id: 1 for e in events}
    # now() is the transaction's start: one value for every claim means one transaction.
    claimed_at = await scratch.rows(f"SELECT DISTINCT received_at FROM {SCHEMA}.inbox")
    assert len(claimed_at) == 1
    assert counter("complaints_consumer_messages_total", topic=topic, group=GROUP, outcome="processed") == 5
    assert counter("complaints_consumer_messages_total", topic=topic, group=GROUP, outcome="duplicate") == 1


class CountingInbox(Inbox):
    """The real inbox, counting the batch claims begun (to see two batches in flight at once)."""

    claims_begun = 0

    async def claim_many(self, *args: Any, **kwargs: Any) -> set[str]:
        self.claims_begun += 1
        return await super().claim_many(*args, **kwargs)


def recorded_spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """The consumer's spans from now on, recorded."""
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    monkeypatch.setattr(consumer_module, "tracer", provider.get_tracer("test"))
    return spans


def recorded_errors(span: Any) -> str:
    """What a span keeps of its errors: its events' attributes and its status."""
    return repr([e.attributes for e in span.events]) + str(span.status.description)


async def read_poll(
    kafka_bootstrap: str, counts: dict[str, int]
) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
    """Records of several topics as one poll returns them: by partition, each in offset order."""
    poll: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
    for topic, count in counts.items():
        async with TopicReader(kafka_bootstrap, topic) as reader:
            for record in sorted(await reader.read_at_least(count), key=lambda r: (r.partition, r.offset)):
                poll.setdefault(TopicPartition(topic, record.partition), []).append(record)
    return poll


def two_topic_runner(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, handler: Handler[Any]
) -> tuple[ConsumerRunner, CountingInbox]:
    inbox = CountingInbox(scratch.inbox.table.metadata)
    runner = ConsumerRunner(
        group=GROUP,
        subscriptions=[
            Subscription(COMPLAINT_CREATED_V1, handler),
            Subscription(COMPLAINT_STATUS_CHANGED_V1, handler),
        ],
        settings=settings,
        db=scratch.db,
        inbox=inbox,
        producer=producer,
    )
    return runner, inbox


@dataclass
class RowLocker(Recorder):
    """A handler that first updates its complaint's row, as a service's handler does. The first
    record of each topic's batch then waits (at most a second) until the other topic's batch has
    locked its first complaint too: without the batches' ordered locks each would then hold one
    complaint's row and want the other's. `fail_once`: an event whose first call fails, before it
    locks anything (to fail a poll's transaction into its partitions' batches)."""

    inbox: CountingInbox | None = None
    first_locked: set[str] = field(default_factory=set)
    both_locked: asyncio.Event = field(default_factory=asyncio.Event)
    overlapped: bool = False
    fail_once: str | None = None
    claims_before: int = 0

    async def __call__(self, session: AsyncConnection, event: Event[Any]) -> None:
        if event.id == self.fail_once:
            self.fail_once = None
            self.claims_before = self.inbox.claims_begun if self.inbox is not None else 0
            raise DomainError("the poll's transaction fails once")
        await session.execute(
            text(f"UPDATE {SCHEMA}.complaints SET n = n + 1 WHERE id = :id"), {"id": event.subject}
        )
        topic = event.contract.topic.name
        if topic not in self.first_locked:
            self.first_locked.add(topic)
            if len(self.first_locked) == 2:
                self.both_locked.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.both_locked.wait(), 1.0)
            # The other topic's batch has begun its transaction while this one is in its own.
            self.overlapped |= self.inbox is not None and self.inbox.claims_begun - self.claims_before == 2
        await super().__call__(session, event)


async def test_batches_of_two_topics_locking_the_same_complaints_in_opposite_orders_do_not_deadlock(
    scratch: Scratch,
    settings: ServiceSettings,
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Intake's case: one poll brings a batch of one topic and a batch of another for the same two
    complaints, in opposite orders. Applied side by side (here: after the poll's one transaction
    failed), PostgreSQL would detect their deadlock only after deadlock_timeout and fail one batch,
    whose records would then be applied one by one."""
    created, updated = settings.topic("complaint.created"), settings.topic("complaint.updated")
    x, y = uuid4(), uuid4()
    async with scratch.db.transaction() as session:
        await session.execute(text(f"CREATE TABLE {SCHEMA}.complaints (id text PRIMARY KEY, n int NOT NULL)"))
        await session.execute(
            text(f"INSERT INTO {SCHEMA}.complaints VALUES (:x, 0), (:y, 0)"), {"x": str(x), "y": str(y)}
        )
    now = datetime.now(UTC)
    forward = [complaint_event(x, 1), complaint_event(y, 2)]
    backward = [status_changed(c, "cust-1", "received", "acknowledged", now) for c in (y, x)]
    for event in forward:
        await produce_event(producer, created, event)
    for event in backward:
        await produce_event(producer, updated, event)
    # The two partitions' records as one poll returns them (read from the broker, then applied as
    # the runner applies a poll).
    poll = await read_poll(kafka_bootstrap, {created: 2, updated: 2})

    handler = RowLocker(scratch, fail_once=forward[0].id)
    runner, handler.inbox = two_topic_runner(scratch, settings, producer, handler)
    with caplog.at_level(logging.INFO, logger=consumer_module.__name__):
        await asyncio.wait_for(runner.apply_poll(poll), TIMEOUT_S)

    assert handler.overlapped, "the two batches were in their transactions at the same time"
    assert caplog.text.count("a batch failed") == 1, "the poll's transaction only: no partition fell back"
    events = [*forward, *backward]
    assert sorted(handler.calls) == sorted(e.id for e in events), "each record once in the batches"
    assert await scratch.effect_counts() == {e.id: 1 for e in events}
    assert await scratch.rows(f"SELECT id, n FROM {SCHEMA}.complaints ORDER BY id") == sorted(
        [(str(x), 2), (str(y), 2)]
    )


async def test_a_polls_partitions_are_applied_in_one_transaction_each_in_order(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    created, updated = settings.topic("complaint.created"), settings.topic("complaint.updated")
    x, y = uuid4(), uuid4()
    on_x = [complaint_event(x, n) for n in range(3)]
    on_y = complaint_event(y, 9)
    changed = status_changed(x, "cust-1", "received", "acknowledged", datetime.now(UTC))
    for event in on_x:
        await produce_event(producer, created, event)
    record = encode_event(on_y)  # another partition of the same topic
    await producer.send_and_wait(created, record.value, key=record.key, headers=record.headers, partition=1)
    await produce_event(producer, updated, changed)
    poll = await read_poll(kafka_bootstrap, {created: 4, updated: 1})
    assert len(poll) == 3, "precondition: three partitions in the poll"

    handler = Recorder(scratch, follow_on=True)
    runner, inbox = two_topic_runner(scratch, settings, producer, handler)
    await asyncio.wait_for(runner.apply_poll(poll), TIMEOUT_S)

    events = [*on_x, on_y, changed]
    assert sorted(handler.calls) == sorted(e.id for e in events)
    assert [c for c in handler.calls if c in {e.id for e in on_x}] == [e.id for e in on_x], "in order"
    assert inbox.claims_begun == 1, "one claim for the whole poll"
    # now() is the transaction's start: one value for every claim and event written means one.
    stamps = await scratch.rows(
        f"SELECT received_at FROM {SCHEMA}.inbox UNION SELECT created_at FROM {SCHEMA}.outbox"
    )
    assert len(stamps) == 1
    assert await scratch.effect_counts() == {e.id: 1 for e in events}
    assert counter("complaints_consumer_messages_total", topic=created, group=GROUP, outcome="processed") == 4
    assert counter("complaints_consumer_messages_total", topic=updated, group=GROUP, outcome="processed") == 1


async def test_a_poison_record_in_one_partition_of_a_poll_costs_the_others_no_effect(
    scratch: Scratch,
    settings: ServiceSettings,
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The poll's transaction fails on the poison record: each partition is then applied as if it
    had been polled alone (a batch, then one by one), so the poison record is dead-lettered after
    its own `consumer_max_attempts` attempts and every other record takes effect once."""
    created, updated = settings.topic("complaint.created"), settings.topic("complaint.updated")
    before, poison, after = (complaint_event(n=n) for n in range(3))
    elsewhere = status_changed(uuid4(), "cust-1", "received", "acknowledged", datetime.now(UTC))
    await produce_event(producer, updated, elsewhere)
    for event in (before, poison, after):
        await produce_event(producer, created, event)
    read = await read_poll(kafka_bootstrap, {created: 3, updated: 1})
    # The other topic's partition first, so that the poll's transaction had applied it.
    poll = {tp: read[tp] for tp in (TopicPartition(updated, 0), TopicPartition(created, 0))}
    handler = Recorder(scratch, follow_on=True)
    handler.failures[poison.id] = lambda _: ValueError(f"cannot notify {SECRET_EMAIL}")
    runner, _ = two_topic_runner(scratch, settings, producer, handler)
    spans = recorded_spans(monkeypatch)

    async with TopicReader(kafka_bootstrap, created + ".dlq") as dlq:
        await asyncio.wait_for(runner.apply_poll(poll), TIMEOUT_S)
        await dlq.read_at_least(1)
        parked = await dlq.settle()

    assert ce_ids(parked) == [poison.id]
    assert await scratch.effect_counts() == {e.id: 1 for e in (elsewhere, before, after)}
    # The poll's transaction (rolled back), the partitions' batches (created's rolled back), then
    # created's records one by one: the poison record's own attempts are consumer_max_attempts.
    assert handler.calls.count(elsewhere.id) == 2
    assert handler.calls.count(before.id) == 3
    assert handler.calls.count(poison.id) == 2 + settings.consumer_max_attempts
    assert handler.calls.count(after.id) == 1
    inbox_ids = {row[0] for row in await scratch.rows(f"SELECT message_id FROM {SCHEMA}.inbox")}
    assert inbox_ids == {elsewhere.id, before.id, after.id}
    follow_ons = await scratch.rows(f"SELECT count(*) FROM {SCHEMA}.outbox")
    assert follow_ons == [(3,)], "the rolled-back transactions left no event behind"
    assert (
        counter("complaints_consumer_messages_total", topic=created, group=GROUP, outcome="dead_lettered")
        == 1
    )
    failed = [s for s in spans.get_finished_spans() if s.status.status_code == trace.StatusCode.ERROR]
    assert failed, "the failed batches' spans of the poison record are marked"
    for span in spans.get_finished_spans():
        assert SECRET_EMAIL not in recorded_errors(span), "a span records the error without its message"


async def test_a_batch_claim_holds_advisory_locks_on_its_complaints_until_the_commit(
    scratch: Scratch,
) -> None:
    subjects = [str(uuid4()) for _ in range(3)]
    async with scratch.db.transaction() as session:
        fresh = await scratch.inbox.claim_many(
            session, GROUP, [("m1", "t"), ("m2", "t"), ("m3", "t")], [*subjects, subjects[0]]
        )
        held = await session.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        )
        assert held.scalar() == 3, "one lock per complaint, a repeated one once"
    assert fresh == {"m1", "m2", "m3"}
    async with scratch.db.transaction() as session:
        again = await scratch.inbox.claim_many(session, GROUP, [("m1", "t"), ("m4", "t")], subjects[:1])
        held = await session.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        )
        assert held.scalar() == 1, "the first transaction's locks ended with it"
    assert again == {"m4"}, "a redelivery drops out"


async def test_a_poison_record_in_a_batch_is_isolated_and_the_others_take_effect_once(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    topic = settings.topic("complaint.created")
    before, poison, after = (complaint_event(n=n) for n in range(3))
    handler = Recorder(scratch, follow_on=True)
    handler.failures[poison.id] = lambda _: DomainError("no compensation rule applies")
    for event in (before, poison, after):
        await produce_event(producer, topic, event)

    parked = await consume_past_the_poison(scratch, settings, producer, kafka_bootstrap, handler, after, 1)

    # The batch ran `before`, then failed on the poison and was rolled back whole; then each alone.
    assert handler.calls.count(before.id) == 2
    assert handler.calls.count(after.id) == 1
    assert await scratch.effect_counts() == {before.id: 1, after.id: 1}, "nothing redone, nothing lost"
    follow_ons = await scratch.rows(f"SELECT count(*) FROM {SCHEMA}.outbox")
    assert follow_ons == [(2,)], "the rolled-back batch left no event behind"
    assert ce_ids(parked) == [poison.id]


class ClaimCountingInbox(CountingInbox):
    """The real inbox, counting the one-record claims too (the batch way makes none)."""

    single_claims = 0

    async def claim(self, *args: Any, **kwargs: Any) -> bool:
        self.single_claims += 1
        return await super().claim(*args, **kwargs)


def traced_runner(
    scratch: Scratch,
    settings: ServiceSettings,
    producer: AIOKafkaProducer,
    handler: Handler[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[ConsumerRunner, ClaimCountingInbox, InMemorySpanExporter]:
    """A runner whose inbox counts its claims and whose spans are recorded."""
    spans = recorded_spans(monkeypatch)
    inbox = ClaimCountingInbox(scratch.inbox.table.metadata)
    runner = ConsumerRunner(
        group=GROUP,
        subscriptions=[Subscription(COMPLAINT_CREATED_V1, handler)],
        settings=settings,
        db=scratch.db,
        inbox=inbox,
        producer=producer,
    )
    return runner, inbox, spans


def process_spans(spans: InMemorySpanExporter, topic: str) -> list[Any]:
    return [s for s in spans.get_finished_spans() if s.name == f"{topic} process"]


async def test_a_single_record_is_applied_the_batch_way_in_one_transaction(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The steady-load case: a poll brings one record. It is claimed by the batch's claim (not the
    one-record path with its retry machinery), handled and committed in one transaction."""
    topic = settings.topic("complaint.created")
    event = complaint_event()
    await produce_event(producer, topic, event)
    handler = Recorder(scratch, follow_on=True)
    runner, inbox, spans = traced_runner(scratch, settings, producer, handler, monkeypatch)

    async with running(runner.run) as loop:
        await wait_applied(scratch, event, "the single record", loop)

    assert handler.calls == [event.id]
    assert (inbox.claims_begun, inbox.single_claims) == (1, 0), "one batch claim, no one-record claim"
    # now() is the transaction's start: the claim and the event the handler wrote share it.
    claimed_at = await scratch.scalar(f"SELECT received_at FROM {SCHEMA}.inbox")
    assert await scratch.scalar(f"SELECT created_at FROM {SCHEMA}.outbox") == claimed_at
    assert [s.attributes["complaints.outcome"] for s in process_spans(spans, topic)] == ["processed"]
    assert counter("complaints_consumer_messages_total", topic=topic, group=GROUP, outcome="processed") == 1


@pytest.mark.parametrize("max_attempts", [1, 3])
async def test_a_single_poison_record_is_dead_lettered_after_max_attempts_in_all(
    scratch: Scratch,
    make_settings: Callable[..., ServiceSettings],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    max_attempts: int,
) -> None:
    """Its failed batch attempt is its first attempt: `consumer_max_attempts` handler calls in
    all, as when a record was applied alone from the start, then one dead letter."""
    settings = make_settings(consumer_max_attempts=max_attempts)
    topic = settings.topic("complaint.created")
    poison = complaint_event()
    await produce_event(producer, topic, poison)
    handler = Recorder(scratch, follow_on=True)
    handler.failures[poison.id] = lambda _: ValueError(f"cannot notify {SECRET_EMAIL}")
    runner, inbox, spans = traced_runner(scratch, settings, producer, handler, monkeypatch)

    async with (
        TopicReader(kafka_bootstrap, topic + ".dlq") as dlq,
        running(runner.run) as loop,
    ):

        async def parked() -> bool:
            await dlq.poll()
            return bool(dlq.records)

        await wait_until(parked, "the poison record dead-lettered", TIMEOUT_S, loop)
        parked_records = await dlq.settle()

    assert handler.calls == [poison.id] * max_attempts
    assert inbox.claims_begun == 1 and inbox.single_claims == max_attempts - 1
    assert ce_ids(parked_records) == [poison.id]
    assert await scratch.effect_counts() == {}
    assert await scratch.rows(f"SELECT message_id FROM {SCHEMA}.inbox") == []
    assert await scratch.rows(f"SELECT id FROM {SCHEMA}.outbox") == [], "no attempt left an event behind"
    (span,) = process_spans(spans, topic)
    assert span.attributes["complaints.outcome"] == "dead_lettered"
    assert SECRET_EMAIL not in recorded_errors(span)
    assert (
        counter("complaints_consumer_messages_total", topic=topic, group=GROUP, outcome="dead_lettered") == 1
    )
    assert counter("complaints_consumer_messages_total", topic=topic, group=GROUP, outcome="processed") == 0


async def test_a_single_record_failing_transiently_is_retried_past_max_attempts_in_one_span(
    scratch: Scratch,
    make_settings: Callable[..., ServiceSettings],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(consumer_max_attempts=1)
    topic = settings.topic("complaint.created")
    flaky = complaint_event()
    await produce_event(producer, topic, flaky)
    handler = Recorder(scratch)
    handler.failures[flaky.id] = lambda attempt: OSError("database unreachable") if attempt <= 2 else None
    runner, _, spans = traced_runner(scratch, settings, producer, handler, monkeypatch)

    async with (
        TopicReader(kafka_bootstrap, topic + ".dlq") as dlq,
        running(runner.run) as loop,
    ):
        await wait_applied(scratch, flaky, "the flaky record applied", loop)
        parked = await dlq.settle(0.5)

    assert handler.calls == [flaky.id] * 3, "the batch attempt, then retried until it went through"
    assert await scratch.effect_counts() == {flaky.id: 1}
    assert parked == []
    assert [s.attributes["complaints.outcome"] for s in process_spans(spans, topic)] == ["processed"]


async def test_a_handler_failing_every_time_is_dead_lettered_after_max_attempts(
    scratch: Scratch,
    make_settings: Callable[..., ServiceSettings],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
) -> None:
    settings = make_settings(consumer_max_attempts=3)
    topic = settings.topic("complaint.created")
    domain_failure, leaky_failure, good = (complaint_event(n=n) for n in range(3))
    handler = Recorder(scratch)
    handler.failures[domain_failure.id] = lambda _: DomainError("no compensation rule applies")
    handler.failures[leaky_failure.id] = lambda _: ValueError(f"cannot notify {SECRET_EMAIL}")
    for event in (domain_failure, leaky_failure, good):
        await produce_event(producer, topic, event)

    parked = await consume_past_the_poison(scratch, settings, producer, kafka_bootstrap, handler, good, 2)

    # The three arrive in one batch: the first fails it (nothing after it ran), then each record is
    # applied alone with its bounded attempts.
    assert handler.calls.count(domain_failure.id) == 1 + 3
    assert handler.calls.count(leaky_failure.id) == 3
    assert handler.calls.count(good.id) == 1
    assert await scratch.effect_counts() == {good.id: 1}, "a failed attempt leaves no effect behind"
    inbox_ids = {row[0] for row in await scratch.rows(f"SELECT message_id FROM {SCHEMA}.inbox")}
    assert inbox_ids == {good.id}, "a failed attempt's inbox claim is rolled back"
    assert ce_ids(parked) == [domain_failure.id, leaky_failure.id]
    errors = [headers_dict(r.headers)["dlq_error"] for r in parked]
    assert errors == ["DomainError: no compensation rule applies", "ValueError"]
    assert all(headers_dict(r.headers)["dlq_reason"] == "handler_failed" for r in parked)
    assert all(SECRET_EMAIL.encode() not in b"".join(v for _, v in r.headers) for r in parked)
    assert [r.value for r in parked] == [e.payload_json().encode() for e in (domain_failure, leaky_failure)]


async def test_a_transient_failure_is_retried_and_never_dead_lettered(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    topic = settings.topic("complaint.created")
    flaky, after = complaint_event(n=1), complaint_event(n=2)
    handler = Recorder(scratch)
    handler.failures[flaky.id] = lambda attempt: OSError("database unreachable") if attempt <= 2 else None
    for event in (flaky, after):
        await produce_event(producer, topic, event)

    async with (
        TopicReader(kafka_bootstrap, topic + ".dlq") as dlq,
        running(make_runner(scratch, settings, producer, handler).run) as loop,
    ):

        async def both_applied() -> bool:
            return set(await scratch.effect_counts()) == {flaky.id, after.id}

        await wait_until(both_applied, "both records applied", TIMEOUT_S, loop)
        parked = await dlq.settle(0.5)

    assert handler.calls == [flaky.id, flaky.id, flaky.id, after.id]
    assert await scratch.effect_counts() == {flaky.id: 1, after.id: 1}
    assert parked == []
    assert (
        counter("complaints_dead_letter_messages_total", topic=topic, group=GROUP, reason="handler_failed")
        == 0
    )


@dataclass
class SlowAtFirst(Recorder):
    """A handler whose first attempts wait longer than the session's statement timeout."""

    slow_attempts: int = 2

    async def __call__(self, session: AsyncConnection, event: Event[Any]) -> None:
        if self.calls.count(event.id) < self.slow_attempts:
            self.calls.append(event.id)
            await session.execute(text("SELECT pg_sleep(5)"))  # cut short by statement_timeout
        await super().__call__(session, event)


async def test_a_statement_timeout_is_retried_and_never_dead_lettered(
    scratch: Scratch,
    make_settings: Callable[..., ServiceSettings],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
) -> None:
    """PostgreSQL cancels the statement (57014, from the service's `database_statement_timeout_ms`):
    a slow database, not a bad message, so the runner retries it past `consumer_max_attempts`."""
    settings = make_settings(database_statement_timeout_ms=200, consumer_max_attempts=1)
    topic = settings.topic("complaint.created")
    slow = complaint_event(n=1)
    handler = SlowAtFirst(scratch)
    await produce_event(producer, topic, slow)
    db = Database.for_service(settings)
    runner = ConsumerRunner(
        group=GROUP,
        subscriptions=[Subscription(COMPLAINT_CREATED_V1, handler)],
        settings=settings,
        db=db,
        inbox=scratch.inbox,
        producer=producer,
    )
    try:
        async with (
            TopicReader(kafka_bootstrap, topic + ".dlq") as dlq,
            running(runner.run) as loop,
        ):
            await wait_applied(scratch, slow, "the slow record applied", loop)
            parked = await dlq.settle(0.5)
    finally:
        await db.dispose()
    assert handler.calls == [slow.id] * 3
    assert await scratch.effect_counts() == {slow.id: 1}
    assert parked == []


async def committed_offset(settings: ServiceSettings, topic: str, partition: int = 0) -> int | None:
    """The runner group's committed offset, read without joining the group."""
    probe = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.topic_prefix + GROUP,
        enable_auto_commit=False,
        request_timeout_ms=5000,
    )
    await probe.start()
    try:
        offset = await probe.committed(TopicPartition(topic, partition))
        return None if offset is None else int(offset)
    finally:
        await probe.stop()


async def test_offsets_are_committed_only_after_the_database_commit(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer
) -> None:
    topic = settings.topic("complaint.created")
    first = [complaint_event(n=n) for n in range(3)]
    stuck = complaint_event(n=3)
    behind = complaint_event(n=4)
    offsets = {e.id: await produce_event(producer, topic, e) for e in (*first, stuck, behind)}

    # Run 1: the database "is down" for one record; its transaction never commits.
    run1 = Recorder(scratch)
    run1.failures[stuck.id] = lambda _: OSError("connection reset")
    async with running(make_runner(scratch, settings, producer, run1).run) as loop:

        async def stuck_retried() -> bool:
            return run1.calls.count(stuck.id) >= 2 and len(await scratch.effect_counts()) == 3

        await wait_until(stuck_retried, "first records applied, the stuck one retried", TIMEOUT_S, loop)
    assert set(await scratch.effect_counts()) == {e.id for e in first}
    assert behind.id not in run1.calls, "a partition's records are processed strictly in order"
    committed = await committed_offset(settings, topic)
    assert committed is None or committed <= offsets[stuck.id], "no offset past an uncommitted effect"

    # Run 2, same group: the stuck record was not committed, so it comes again; the rest do not
    # take effect twice.
    run2 = Recorder(scratch)
    async with running(make_runner(scratch, settings, producer, run2).run) as loop:

        async def rest_applied() -> bool:
            return {stuck.id, behind.id} <= set(await scratch.effect_counts())

        await wait_until(rest_applied, "the uncommitted records redelivered", TIMEOUT_S, loop)
    assert run2.calls == [stuck.id, behind.id], "what was applied before is not applied again"
    assert await scratch.effect_counts() == {e.id: 1 for e in (*first, stuck, behind)}
    assert await committed_offset(settings, topic) == offsets[behind.id] + 1, "committed once applied"


def recorded_commits(monkeypatch: pytest.MonkeyPatch) -> list[dict[TopicPartition, int]]:
    """The offsets of every commit a consumer makes from now on (each made for real)."""
    commits: list[dict[TopicPartition, int]] = []
    commit = AIOKafkaConsumer.commit

    async def recording(self: AIOKafkaConsumer, offsets: dict[TopicPartition, int] | None = None) -> None:
        commits.append(dict(offsets or {}))
        await commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", recording)
    return commits


@pytest.mark.parametrize("interval_ms", [0, 60_000])
async def test_single_record_polls_share_an_offset_commit_within_the_interval(
    scratch: Scratch,
    make_settings: Callable[..., ServiceSettings],
    producer: AIOKafkaProducer,
    monkeypatch: pytest.MonkeyPatch,
    interval_ms: int,
) -> None:
    """Polls of one record each (a steady load): with an interval, the first is committed at once
    and the next ones wait for it; a crash before that redelivers them, the inbox absorbs them, and
    an empty poll commits what is owed. With 0, each poll is committed (one commit per message)."""
    settings = make_settings(consumer_batch_size=1, consumer_commit_interval_ms=interval_ms)
    topic = settings.topic("complaint.created")
    tp = TopicPartition(topic, 0)
    events = [complaint_event(n=n) for n in range(4)]
    ends = [await produce_event(producer, topic, event) + 1 for event in events]
    commits = recorded_commits(monkeypatch)
    run1 = Recorder(scratch)
    runner = make_runner(scratch, settings, producer, run1)
    consumer = await new_consumer(settings, GROUP, runner.topics)
    await consumer.start()
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while len(run1.calls) < len(events):
            assert time.monotonic() < deadline, f"{len(run1.calls)} of {len(events)} records applied"
            await runner.poll_once(consumer)
    finally:
        await consumer.stop()  # as a kill -9 leaves it: what is owed is not committed
    assert commits == ([{tp: end} for end in ends] if interval_ms == 0 else [{tp: ends[0]}])
    assert await committed_offset(settings, topic) == (ends[-1] if interval_ms == 0 else ends[0])

    run2 = Recorder(scratch)
    async with running(make_runner(scratch, settings, producer, run2).run) as loop:

        async def all_committed() -> bool:
            return await committed_offset(settings, topic) == ends[-1]

        # Still running, so committed by a poll that came back empty, not by the stop.
        await wait_until(all_committed, "the redelivered records' offsets committed", TIMEOUT_S, loop)
    assert run2.calls == [], "the redelivered records are absorbed by the inbox"
    assert await scratch.effect_counts() == {event.id: 1 for event in events}
    redelivered = 0 if interval_ms == 0 else len(events) - 1
    assert counter("complaints_consumer_messages_total", topic=topic, group=GROUP, outcome="duplicate") == (
        redelivered
    )


async def test_an_offset_whose_commit_failed_is_not_committed_later(
    scratch: Scratch,
    make_settings: Callable[..., ServiceSettings],
    producer: AIOKafkaProducer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A commit that fails (the broker gone) is not kept for the next one: a broker that came back
    empty, or a topic re-created, would get an offset from before and skip what is now below it.
    The record is redelivered instead, and the inbox absorbs it."""
    settings = make_settings(consumer_batch_size=1, consumer_commit_interval_ms=0)
    topic = settings.topic("complaint.created")
    await produce_event(producer, topic, complaint_event(n=1))
    attempts: list[dict[TopicPartition, int]] = []

    async def failing(self: AIOKafkaConsumer, offsets: dict[TopicPartition, int] | None = None) -> None:
        attempts.append(dict(offsets or {}))
        raise KafkaConnectionError("the broker is gone")

    monkeypatch.setattr(AIOKafkaConsumer, "commit", failing)
    recorder = Recorder(scratch)
    runner = make_runner(scratch, settings, producer, recorder)
    consumer = await new_consumer(settings, GROUP, runner.topics)
    await consumer.start()
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not recorder.calls:
            assert time.monotonic() < deadline, "the record was not applied"
            await runner.poll_once(consumer)
        await runner.poll_once(consumer)  # an empty poll commits what is owed: nothing any more
    finally:
        await consumer.stop()
    assert len(attempts) == 1, attempts
    assert await committed_offset(settings, topic) in (None, 0), "nothing committed: redelivered"


async def test_the_offsets_owed_are_committed_on_stop(
    scratch: Scratch, make_settings: Callable[..., ServiceSettings], producer: AIOKafkaProducer
) -> None:
    settings = make_settings(consumer_batch_size=1, consumer_commit_interval_ms=60_000)
    topic = settings.topic("complaint.created")
    first, last = complaint_event(n=1), complaint_event(n=2)
    await produce_event(producer, topic, first)
    end = await produce_event(producer, topic, last) + 1
    stops: list[asyncio.Event] = []
    recorder = Recorder(scratch)

    async def stop_after_the_last(session: AsyncConnection, event: Event[Any]) -> None:
        await recorder(session, event)
        if event.id == last.id:
            stops[0].set()  # SIGTERM right after it: no further poll, empty or not, follows

    async with running(make_runner(scratch, settings, producer, stop_after_the_last).run) as loop:
        stops.append(loop.stop)
        await asyncio.wait_for(asyncio.shield(loop.task), TIMEOUT_S)
    assert recorder.calls == [first.id, last.id]
    assert await committed_offset(settings, topic) == end, "the last poll's offset committed on stop"


async def test_a_rebalance_commits_the_offsets_owed_on_the_partitions_it_takes_away(
    scratch: Scratch, make_settings: Callable[..., ServiceSettings], producer: AIOKafkaProducer
) -> None:
    """A replica holds an owed offset (its second record's) while it works on its third record; a
    second member joining the group revokes its partitions, and the owed offset is committed then.
    The joiner commits nothing, so only the revocation can have committed it."""
    settings = make_settings(consumer_batch_size=1, consumer_commit_interval_ms=60_000)
    topic = settings.topic("complaint.created")
    events = [complaint_event(n=n) for n in range(3)]
    ends = [await produce_event(producer, topic, event) + 1 for event in events]
    recorder = Recorder(scratch)
    working, release = asyncio.Event(), asyncio.Event()

    async def hold_the_third(session: AsyncConnection, event: Event[Any]) -> None:
        if event.id == events[2].id:
            working.set()
            await asyncio.wait_for(release.wait(), TIMEOUT_S)
        await recorder(session, event)

    async with running(make_runner(scratch, settings, producer, hold_the_third).run) as loop:
        await asyncio.wait_for(working.wait(), TIMEOUT_S)
        assert await committed_offset(settings, topic) == ends[0], "the second record's offset is owed"
        joiner = await new_consumer(settings, GROUP, [topic])
        await joiner.start()
        try:

            async def owed_committed() -> bool:
                return await committed_offset(settings, topic) == ends[1]

            await wait_until(owed_committed, "the owed offset committed on revocation", TIMEOUT_S, loop)
        finally:
            release.set()
            await joiner.stop()
        await wait_applied(scratch, events[2], "the third record", loop)
    assert await scratch.effect_counts() == {event.id: 1 for event in events}


async def test_the_handler_runs_in_the_trace_of_the_message(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer
) -> None:
    topic = settings.topic("complaint.created")
    event = complaint_event()
    trace_id = uuid4().int
    traceparent = f"00-{trace_id:032x}-{uuid4().int & (2**64 - 1):016x}-01"
    await produce(
        producer,
        topic,
        event.payload_json().encode(),
        event.subject.encode(),
        [*encode_event(event).headers, ("traceparent", traceparent.encode())],
    )
    handler = Recorder(scratch, follow_on=True)
    async with running(make_runner(scratch, settings, producer, handler).run) as loop:
        await wait_applied(scratch, event, "the traced record", loop)

    assert handler.trace_ids[event.id] == trace_id, "the process span continues the producer's trace"
    written = await scratch.scalar(f"SELECT headers->>'traceparent' FROM {SCHEMA}.outbox")
    assert written is not None and written.split("-")[1] == f"{trace_id:032x}", (
        "an event the handler writes stays in the complaint's trace"
    )


async def test_shutdown_during_a_failing_attempt_does_not_dead_letter(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    topic = settings.topic("complaint.created")
    event = complaint_event()
    await produce_event(producer, topic, event)
    runner_stop: list[asyncio.Event] = []

    def fail_first_attempt_while_shutting_down(attempt: int) -> BaseException | None:
        if attempt == 1:
            runner_stop[0].set()  # SIGTERM arrives while the first attempt is running
            return DomainError("temporarily inconsistent")
        return None

    handler = Recorder(scratch)
    handler.failures[event.id] = fail_first_attempt_while_shutting_down
    async with TopicReader(kafka_bootstrap, topic + ".dlq") as dlq:
        async with running(make_runner(scratch, settings, producer, handler).run) as loop:
            runner_stop.append(loop.stop)
            await asyncio.wait_for(asyncio.shield(loop.task), TIMEOUT_S)
        parked = await dlq.settle(0.5)
    assert parked == [], "a message must not be dead-lettered before its attempts are used up"

    async with running(make_runner(scratch, settings, producer, Recorder(scratch)).run) as loop:
        await wait_applied(scratch, event, "the event after the restart", loop)


async def test_a_real_unique_violation_is_described_without_personal_data(scratch: Scratch) -> None:
    async with scratch.db.engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {SCHEMA}.customers (email text UNIQUE)"))
        await conn.execute(text(f"INSERT INTO {SCHEMA}.customers VALUES (:e)"), {"e": SECRET_EMAIL})
    with pytest.raises(IntegrityError) as caught:
        async with scratch.db.transaction() as session:
            await session.execute(text(f"INSERT INTO {SCHEMA}.customers VALUES (:e)"), {"e": SECRET_EMAIL})
    driver_error = caught.value.orig.__cause__ if caught.value.orig is not None else None
    assert SECRET_EMAIL in str(getattr(driver_error, "detail", "")), "precondition: the driver quotes it"
    assert SECRET_EMAIL not in str(caught.value), "the engine hides the statement's parameters"
    described = safe_error(caught.value)
    assert described.startswith("IntegrityError(") and described.endswith(", sqlstate=23505)"), described
    assert SECRET_EMAIL not in described and "customers" not in described
    assert not is_transient(caught.value)


async def test_a_replayed_dead_letter_is_processed_once_the_cause_is_fixed(
    scratch: Scratch,
    make_settings: Callable[..., ServiceSettings],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
) -> None:
    settings = make_settings(consumer_max_attempts=1)
    topic = settings.topic("complaint.created")
    broken, good = complaint_event(n=1), complaint_event(n=2)
    handler = Recorder(scratch)
    handler.failures[broken.id] = lambda _: DomainError("policy has no rule for this category")
    for event in (broken, good):
        await produce_event(producer, topic, event)

    async with running(make_runner(scratch, settings, producer, handler).run) as loop:
        await wait_applied(scratch, good, "the good record", loop)
        async with TopicReader(kafka_bootstrap, topic + ".dlq") as dlq:
            await dlq.read_at_least(1)
        handler.failures.clear()  # the operator fixed the cause

        assert await replay_dead_letters(settings, GROUP, "complaint.created.dlq") == 1
        # A second replay finds nothing new: the replay group committed its position.
        assert await replay_dead_letters(settings, GROUP, "complaint.created.dlq") == 0

        await wait_applied(scratch, broken, "the replayed record", loop)
    assert await scratch.effect_counts() == {broken.id: 1, good.id: 1}


async def test_replay_refuses_a_topic_that_is_not_a_dead_letter_topic(settings: ServiceSettings) -> None:
    with pytest.raises(ValueError, match="not a dead-letter topic"):
        await replay_dead_letters(settings, GROUP, "complaint.created")


# --- gauges every replica reports truthfully -------------------------------------------------------


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_a_standby_reads_the_outbox_age_and_only_the_lock_holder_is_the_active_relay(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "BACKLOG_INTERVAL_S", 0.1)
    await scratch.write(complaint_event(n=1), complaint_event(n=2))
    async with scratch.db.transaction() as session:
        await session.execute(text(f"UPDATE {SCHEMA}.outbox SET created_at = now() - interval '90 seconds'"))
    # Another replica's relay holds the lock: this one stands by and must still see the backlog.
    holder = await asyncpg.connect(asyncpg_dsn(settings.database_dsn))
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"outbox-relay:{SCHEMA}")
        relay = OutboxRelay(settings, SCHEMA, producer)
        async with (
            running(relay.run) as relaying,
            running(relay_module.backlog_gauges(scratch.db, SCHEMA)) as gauges,
        ):

            async def standing_by_and_seeing_the_age() -> bool:
                age = gauge("complaints_outbox_oldest_unsent_age_seconds") or 0.0
                return relay.leader is False and age >= 90

            await wait_until(
                standing_by_and_seeing_the_age, "a standby's outbox gauges", TIMEOUT_S, relaying, gauges
            )
            assert gauge("complaints_outbox_backlog_messages") == 2
            assert gauge("complaints_relay_active") == 0

            await holder.execute("SELECT pg_advisory_unlock_all()")

            async def leading_and_sent() -> bool:
                return (
                    gauge("complaints_relay_active") == 1 and gauge("complaints_outbox_backlog_messages") == 0
                )

            await wait_until(
                leading_and_sent, "the relay leads and the backlog is sent", TIMEOUT_S, relaying, gauges
            )
            assert gauge("complaints_outbox_oldest_unsent_age_seconds") == 0
        assert gauge("complaints_relay_active") == 0, "a stopped relay is not active"
    finally:
        await holder.close()


async def test_the_lag_gauge_grows_while_a_handler_is_stuck_and_falls_once_it_moves(
    scratch: Scratch, settings: ServiceSettings, producer: AIOKafkaProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer_module, "LAG_INTERVAL_S", 0.1)
    topic = settings.topic("complaint.created")
    release = asyncio.Event()
    recorder = Recorder(scratch)

    async def stuck(session: AsyncConnection, event: Event[Any]) -> None:
        await release.wait()
        await recorder(session, event)

    runner = make_runner(scratch, settings, producer, stuck)
    async with running(runner.run) as loop:
        await wait_until(lambda: _holds_partitions(runner), "the consumer holds partitions", TIMEOUT_S, loop)
        for n in range(5):
            await produce_event(producer, topic, complaint_event(n=n))

        def lag() -> float:
            return gauge("complaints_consumer_lag_messages", topic=topic, partition="0", group=GROUP) or 0.0

        async def grown() -> bool:
            return lag() == 5

        await wait_until(grown, "the lag of a stuck consumer reported", TIMEOUT_S, loop)
        release.set()

        async def caught_up() -> bool:
            return lag() == 0 and len(recorder.calls) == 5

        await wait_until(caught_up, "the lag back to 0", TIMEOUT_S, loop)
    assert (gauge("complaints_consumer_last_commit_timestamp_seconds", group=GROUP) or 0) > time.time() - 60


async def _holds_partitions(runner: ConsumerRunner) -> bool:
    return runner.not_ready() is None
