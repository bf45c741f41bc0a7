"""The outbox relay: sends committed outbox rows to Kafka in order, once per row.

One relay per service is active at a time: it holds a PostgreSQL advisory lock on its own connection,
and the others wait as hot standbys. It wakes on LISTEN/NOTIFY (the outbox trigger fires at commit)
with a timed poll as the fallback, and sends in batches in `seq` order so a complaint's events keep
the order they were written in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import OutOfOrderSequenceNumber, ProducerFenced, UnknownProducerId
from opentelemetry import context, propagate
from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation

from complaints_common import metrics
from complaints_common.db import Database, connect_options, connect_raw
from complaints_common.errors import INFRASTRUCTURE_ERRORS, is_transient
from complaints_common.loops import BackgroundLoop, every, periodically, sleep_or_stop, wait_for_wake
from complaints_common.messaging import notify_channel
from complaints_common.settings import ServiceSettings

log = logging.getLogger(__name__)

TRACE_HEADERS = frozenset(propagate.get_global_textmap().fields) | {"traceparent", "tracestate"}
HOUSEKEEPING_INTERVAL_S = 300.0
# An idle relay is woken by LISTEN/NOTIFY (each committed outbox insert), by its connection closing,
# and after a failed send; the timed poll is only the fallback for a wake-up that never came, so it
# is rare: one statement per this many seconds at idle instead of one per poll interval.
IDLE_FALLBACK_POLL_S = 10.0
# The backlog gauges cost a count over the unpublished rows (a partial index): every few seconds, in
# every worker replica, the relay's standbys included.
BACKLOG_INTERVAL_S = 5.0


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: Any
    aggregateid: str
    topic: str
    payload: str
    headers: dict[str, str]


# What an idempotent producer cannot recover from: its sender stops, and every later send fails
# (Apache Kafka answers OutOfOrderSequenceNumber when the batches a broker had in flight were lost
# in a failover). Only a new producer, with a new producer id, sends again.
PRODUCER_BROKEN = (OutOfOrderSequenceNumber, ProducerFenced, UnknownProducerId)


class OutboxRelay:
    def __init__(
        self,
        settings: ServiceSettings,
        schema: str,
        producer: AIOKafkaProducer,
        renew_producer: Callable[[], Awaitable[AIOKafkaProducer]] | None = None,
    ) -> None:
        self.settings = settings
        self.schema = schema
        self.producer = producer
        self._renew_producer = renew_producer
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._last_housekeeping = 0.0
        # None until the relay has asked for the leadership; then whether it holds it.
        self.leader: bool | None = None

    def not_ready(self) -> str | None:
        """None once the relay holds the leadership or knows another replica does (a hot standby
        is ready: rolling out a second worker must not wait for the first to die)."""
        if self.leader is None:
            return "the outbox relay has not reached the database yet"
        return None

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set, reconnecting after any database failure."""
        self._stop = stop
        while not stop.is_set():
            try:
                await self._run_with_connection(stop)
            except INFRASTRUCTURE_ERRORS as exc:
                if not is_transient(exc):
                    raise  # a bug, not an outage: the supervisor logs it and restarts the relay
                log.warning("outbox relay lost its database connection", extra={"error": repr(exc)})
                await sleep_or_stop(stop, self.settings.outbox_poll_interval_s)

    async def _run_with_connection(self, stop: asyncio.Event) -> None:
        # The relay's own polling is not part of any complaint's journey: keep it out of traces.
        with suppress_instrumentation():
            await self._relay_until_stopped(stop)

    async def _relay_until_stopped(self, stop: asyncio.Event) -> None:
        conn = await connect_raw(self.settings)
        try:
            await self._become_leader(conn, stop)
            if stop.is_set():
                return
            await conn.add_listener(notify_channel(self.schema), self._on_notify)
            # A connection lost while idle is found at once (the next fetch fails and the relay
            # reconnects), not at the fallback poll.
            conn.add_termination_listener(self._on_notify)
            log.info("outbox relay is active", extra={"schema": self.schema})
            while not stop.is_set():
                sent = await self.relay_batch(conn)
                await self._housekeeping(conn)
                if sent < self.settings.outbox_batch_size:
                    await self._wait_for_work(stop)
        finally:
            self.leader = None
            metrics.RELAY_ACTIVE.set(0)
            await asyncio.shield(conn.close(timeout=5))

    async def _become_leader(self, conn: asyncpg.Connection, stop: asyncio.Event) -> None:
        """Wait for the advisory lock: only its holder relays, so order is kept across replicas."""
        key = f"outbox-relay:{self.schema}"
        while not stop.is_set():
            self.leader = bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key))
            metrics.RELAY_ACTIVE.set(1 if self.leader else 0)
            if self.leader:
                return
            await sleep_or_stop(stop, self.settings.outbox_poll_interval_s)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _wait_for_work(self, stop: asyncio.Event) -> None:
        fallback = max(self.settings.outbox_poll_interval_s, IDLE_FALLBACK_POLL_S)
        await wait_for_wake(self._wake, stop, fallback)
        self._wake.clear()

    async def relay_batch(self, conn: asyncpg.Connection) -> int:
        """Send the oldest unpublished rows; returns how many were published."""
        rows = await self._fetch(conn)
        if not rows:
            return 0
        try:
            await self._send(rows)
        except Exception as exc:
            metrics.OUTBOX_FAILURES.inc()
            await conn.execute(
                f'UPDATE "{self.schema}".outbox SET attempts = attempts + 1, last_error = $2 '
                "WHERE id = ANY($1::uuid[])",
                [row.id for row in rows],
                type(exc).__name__,
            )
            log.warning("outbox batch not published; will retry", extra={"error": type(exc).__name__})
            if isinstance(exc, PRODUCER_BROKEN) and self._renew_producer is not None:
                log.warning(
                    "the producer can no longer send; replacing it", extra={"error": type(exc).__name__}
                )
                self.producer = await self._renew_producer()
            await sleep_or_stop(self._stop, self.settings.outbox_poll_interval_s)
            self._wake.set()  # the rows are still there: try again now, not at the fallback poll
            return 0
        await conn.execute(
            f'UPDATE "{self.schema}".outbox SET published_at = now(), attempts = attempts + 1, '
            "last_error = NULL WHERE id = ANY($1::uuid[])",
            [row.id for row in rows],
        )
        return len(rows)

    async def _fetch(self, conn: asyncpg.Connection) -> list[OutboxRow]:
        records = await conn.fetch(
            f"SELECT id, aggregateid, topic, payload::text AS payload, headers::text AS headers "
            f'FROM "{self.schema}".outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1',
            self.settings.outbox_batch_size,
        )
        return [
            OutboxRow(r["id"], r["aggregateid"], r["topic"], r["payload"], json.loads(r["headers"]))
            for r in records
        ]

    async def _send(self, rows: Sequence[OutboxRow]) -> None:
        """Hand the whole batch to the producer, then wait for every acknowledgement."""
        instrumented = AIOKafkaInstrumentor().is_instrumented_by_opentelemetry
        deliveries = []
        for row in rows:
            deliveries.append(await self._send_one(row, instrumented))
        await asyncio.gather(*deliveries)
        for topic, sent in Counter(row.topic for row in rows).items():
            metrics.outbox_published(topic).inc(sent)

    async def _send_one(self, row: OutboxRow, instrumented: bool) -> asyncio.Future[Any]:
        # Continue the trace of the transaction that wrote the row, not the relay's own. Without
        # the aiokafka instrumentation that is the trace context the row kept, sent as it was
        # written (what extracting and injecting it again would make).
        if not instrumented:
            return await self._produce(row, [(k, v.encode()) for k, v in row.headers.items()])
        # The instrumentation's send span is a child of the context current at the send: make it
        # the writer's (a fresh context, which also lifts the relay's suppression of
        # instrumentation for this send); the span injects its own trace headers.
        token = context.attach(propagate.extract(row.headers))
        try:
            return await self._produce(
                row, [(k, v.encode()) for k, v in row.headers.items() if k not in TRACE_HEADERS]
            )
        finally:
            context.detach(token)

    async def _produce(self, row: OutboxRow, headers: list[tuple[str, bytes]]) -> asyncio.Future[Any]:
        delivery: asyncio.Future[Any] = await self.producer.send(
            self.settings.topic(row.topic),
            value=row.payload.encode(),
            key=row.aggregateid.encode(),
            headers=headers,
        )
        return delivery

    async def _housekeeping(self, conn: asyncpg.Connection) -> None:
        """Drop published rows past the retention window, and inbox rows well past it."""
        now = time.monotonic()
        if now - self._last_housekeeping < HOUSEKEEPING_INTERVAL_S:
            return
        self._last_housekeeping = now
        hours = self.settings.outbox_retention_hours
        await conn.execute(
            f'DELETE FROM "{self.schema}".outbox WHERE published_at < now() - make_interval(hours => $1)',
            hours,
        )
        # Inbox ids must outlive any redelivery, including a re-publish of the whole outbox window.
        await conn.execute(
            f'DELETE FROM "{self.schema}".inbox WHERE received_at < now() - make_interval(hours => $1)',
            hours * 4,
        )


def backlog_gauges(db: Database, schema: str) -> BackgroundLoop:
    """A loop for every worker replica: the outbox's backlog and the age of its oldest unsent row,
    read from the database, so that every replica reports the truth (a standby and a replica whose
    relay lost the lock included), not only the relay that holds it."""
    query = f'SELECT count(*), min(created_at) FROM "{schema}".outbox WHERE published_at IS NULL'

    async def turn() -> bool:
        with suppress_instrumentation():
            # One read needs no BEGIN and COMMIT around it (one round trip, not three).
            async with db.autocommit() as connection:
                count, oldest = await connection.fetchrow(query) or (0, None)
        metrics.OUTBOX_BACKLOG.set(count)
        metrics.OUTBOX_OLDEST_AGE.set(_age_seconds(oldest))
        return False

    async def run(stop: asyncio.Event) -> None:
        await periodically(stop, "outbox backlog", turn, every(BACKLOG_INTERVAL_S))

    run.__qualname__ = "OutboxBacklog.run"
    return run


async def republish_since(settings: ServiceSettings, schema: str, since: datetime) -> int:
    """Mark every row written since `since` unpublished, so the relay sends it again.

    For a broker that lost data; consumers' inboxes drop what they had already applied.
    """
    # An operator's one-off UPDATE over the retention window may rightly outlast the statement timeout.
    conn = await connect_options(settings.database_dsn, settings, timeouts=False).connect()
    try:
        status = await conn.execute(
            f'UPDATE "{schema}".outbox SET published_at = NULL WHERE created_at >= $1', since
        )
        # An UPDATE fires no insert trigger: wake the relay as a committed insert would.
        await conn.execute("SELECT pg_notify($1, '')", notify_channel(schema))
    finally:
        await conn.close()
    return int(status.split()[-1])


def _age_seconds(oldest: datetime | None) -> float:
    if oldest is None:
        return 0.0
    return max(0.0, time.time() - oldest.timestamp())
