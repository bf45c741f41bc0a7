"""The one consumer loop: inbox dedupe, manual offset commits, bounded retries, then a dead letter.

Batch first: the records a poll returns, of all its partitions, are applied in ONE transaction, each
partition's in order (one multi-row inbox claim, from which redeliveries drop out; the handlers; one
commit). A poll of one record goes the same way. The Kafka offsets are committed only after that
commit, and at most every `consumer_commit_interval_ms` (several polls' in one OffsetCommit), except
that what is owed is committed at once when a poll comes back empty (an idle consumer's lag reaches
0), before a rebalance takes partitions away, and on stop. What a crash leaves uncommitted is
redelivered, and the inbox absorbs it.
Records of event types the service does not handle are skipped by their ce_type header before
anything is decoded. Each record's handler runs inside a "<topic> process" span opened from the
record's trace headers (so its database work and the events it writes stay in the complaint's
trace). When anything in a batch fails, its transaction is rolled back whole and it is split: a
poll's into its partitions' batches, applied side by side; a partition's into its records, applied
one by one, each in its own transaction with bounded retries, so that a poison record is isolated:
it goes to `<topic>.dlq` with the reason in its headers, the others take effect once, and the
consumer moves on. An attempt made in a batch with other records does not count towards a record's
`consumer_max_attempts`; one made alone (a batch of that record only) does.

Batches of two topics may touch the same complaints in opposite orders (intake's
notification.status and compensation.granted batches, side by side after a poll's batch failed, or
in two replicas): a batch's inbox claim first takes advisory locks on its complaints in one global
order, so the second batch waits for the first's commit instead of deadlocking with it (which
PostgreSQL would detect only after `deadlock_timeout`, failing one batch into the one-by-one path).
A record applied one by one and an HTTP request write one complaint's rows and take no such lock (a
batch of one record takes its one): a batch may wait for them or they for it, but no cycle can close
through a transaction that holds locks of one complaint only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaError
from opentelemetry import propagate, trace
from sqlalchemy.ext.asyncio import AsyncConnection
from tenacity import AsyncRetrying, RetryCallState

from complaints_common import metrics
from complaints_common.db import Database
from complaints_common.errors import is_transient, safe_error
from complaints_common.events.contracts import Payload
from complaints_common.events.envelope import (
    CONTRACTS,
    Event,
    EventContract,
    MalformedEvent,
    decode_event,
    headers_dict,
)
from complaints_common.events.ids import caused_by
from complaints_common.events.topics import DEAD_LETTER_SUFFIX
from complaints_common.kafka import new_consumer
from complaints_common.loops import sleep_or_stop
from complaints_common.messaging import Inbox
from complaints_common.settings import ServiceSettings

__all__ = ["ConsumerRunner", "Handler", "Subscription", "apply_once"]

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

DataT = TypeVar("DataT", bound=Payload)
# A handler of one event type, typed by that type's data: `Subscription(COMPLAINT_CREATED_V1, h)`
# with `h` taking `Event[ComplaintCreatedV1]` type-checks; with any other data it does not.
Handler = Callable[[AsyncConnection, Event[DataT]], Awaitable[None]]
OFFSET_COMMIT_TIMEOUT_S = 10.0
# How often the lag gauge asks the broker for the log-end offsets, beside the polling: a consumer
# whose handler is stuck still reports its lag growing.
LAG_INTERVAL_S = 10.0
# The pauses between a failing record's attempts.
RETRY_FIRST_WAIT_S = 0.1
RETRY_MAX_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class Subscription(Generic[DataT]):
    """A handler for one event type; the consumer subscribes to that type's topic."""

    contract: EventContract[DataT]
    handler: Handler[DataT]


async def apply_once(
    db: Database, inbox: Inbox, group: str, topic: str, event: Event[Any], handler: Handler[Any]
) -> bool:
    """Claim the event in the inbox and run the handler in one transaction; False for a redelivery.

    The events the handler makes get ids derived from this event's (complaints_common.events.ids),
    so handling it again after a restore emits what downstream inboxes already hold."""
    async with db.transaction() as session:
        if not await inbox.claim(session, group, event.id, topic):
            return False
        await run_handler(session, group, event, handler)
        return True


async def run_handler(session: AsyncConnection, group: str, event: Event[Any], handler: Handler[Any]) -> None:
    with caused_by(event.id, f"{group}/{event.contract.ce_type}"):
        await handler(session, event)


@dataclass(frozen=True, slots=True)
class _Received:
    """A record decoded, with the handler of its event type."""

    record: ConsumerRecord[bytes, bytes]
    headers: dict[str, str]
    event: Event[Any]
    handler: Handler[Any]


class _CommitBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Before a rebalance takes partitions away, commit the offsets owed on them: their next owner
    starts from there rather than redelivering what this replica already applied."""

    def __init__(self, commit: Callable[[set[TopicPartition]], Awaitable[None]]) -> None:
        self._commit = commit

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._commit(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass  # a partition assigned starts from its committed offset: nothing is owed on it yet


class ConsumerRunner:
    def __init__(
        self,
        *,
        group: str,
        subscriptions: Sequence[Subscription[Any]],
        settings: ServiceSettings,
        db: Database,
        inbox: Inbox,
        producer: AIOKafkaProducer,
    ) -> None:
        self.group = group
        self.settings = settings
        self.db = db
        self.inbox = inbox
        self.producer = producer
        self.handlers = {s.contract.ce_type: s.handler for s in subscriptions}
        # The event types that share this consumer's topics but are another service's business:
        # passed over by their ce_type header, before any decoding, span or database work.
        self.not_ours = {t.encode() for t in CONTRACTS if t not in self.handlers}
        self.topics = sorted({settings.topic(s.contract.topic.name) for s in subscriptions})
        self._stop = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._has_held_partitions = False
        self._committed: dict[TopicPartition, int] = {}
        # Offsets of records whose effects are committed, not yet committed to the group.
        self._owed: dict[TopicPartition, int] = {}
        self._next_commit = 0.0  # time.monotonic() before which owed offsets wait for more
        self._lag_reported: set[TopicPartition] = set()

    def not_ready(self) -> str | None:
        """Why this consumer cannot take a message at once (None: it has joined its group and holds
        partitions). A worker is ready only then, so the first complaint goes as fast as the next."""
        if self._consumer is None:
            return f"consumer group {self.group} has not started"
        if self._consumer.assignment():
            self._has_held_partitions = True
        elif not self._has_held_partitions:
            return f"consumer group {self.group} has not been assigned partitions yet"
        # A later rebalance (another replica joining) briefly empties the assignment: still ready.
        return None

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; any failure restarts the consumer after a pause, the poll that
        failed uncommitted (the offsets owed of those applied before it are committed first)."""
        self._stop = stop
        while not stop.is_set():
            consumer = await new_consumer(
                self.settings, self.group, self.topics, _CommitBeforeRevoke(self._commit_revoked)
            )
            try:
                await consumer.start()
                self._consumer = consumer
                log.info("consumer started", extra={"group": self.group, "topics": self.topics})
                lag = asyncio.create_task(self._report_lag(consumer, stop))
                try:
                    while not stop.is_set():
                        await self.poll_once(consumer)
                finally:
                    lag.cancel()
            except Exception as exc:
                log.warning("consumer restarting", extra={"group": self.group, "error": safe_error(exc)})
                await asyncio.sleep(1.0)
            finally:
                await self._commit_owed(consumer)  # what this consumer applied, before it leaves
                self._consumer, self._has_held_partitions = None, False
                self._committed.clear()
                self._owed.clear()
                await _stop_quietly(consumer)

    async def poll_once(self, consumer: AIOKafkaConsumer) -> None:
        batch = await consumer.getmany(timeout_ms=500, max_records=self.settings.consumer_batch_size)
        if batch:
            await self.apply_poll(batch)
            # Owed from now on: the records' effects are committed.
            self._owed.update({tp: records[-1].offset + 1 for tp, records in batch.items()})
            if time.monotonic() < self._next_commit:
                return
        await self._commit_owed(consumer)

    async def apply_poll(
        self, batch: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        """Apply one poll's records: all of them in ONE transaction, each partition's (one
        complaint's events) strictly in order. When that fails, nothing of it took effect and each
        partition is applied as a poll of that partition alone would be, side by side (its batch,
        then its records one by one): a poison record costs the poll's other records one more
        attempt, never their effect. A TaskGroup cancels the other partitions when one fails, so
        nothing runs on after the consumer restarts uncommitted."""
        partitions = [
            received for records in batch.values() if (received := await self._receive_all(records))
        ]
        if len(partitions) <= 1:
            for received in partitions:
                await self._apply_partition(received)
            return
        whole = [item for received in partitions for item in received]
        if await self._apply_batch(whole, self._span) is None:
            return
        async with asyncio.TaskGroup() as group:
            for received in partitions:
                group.create_task(self._apply_partition(received))

    async def _receive_all(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[_Received]:
        return [item for item in [await self._receive(record) for record in records] if item]

    async def _apply_partition(self, received: Sequence[_Received]) -> None:
        if len(received) == 1:
            await self._apply_single(received[0])
        elif await self._apply_batch(received, self._span) is not None:
            for item in received:
                await self._apply_alone(item)

    async def _commit_revoked(self, revoked: set[TopicPartition]) -> None:
        # Tried once (`_commit_owed` drops what it tries): committed, or left to the next owner,
        # who redelivers from the last commit.
        if self._consumer is not None:
            await self._commit_owed(self._consumer, revoked)

    async def _commit_owed(
        self, consumer: AIOKafkaConsumer, only: Collection[TopicPartition] | None = None
    ) -> None:
        """Commit the offsets owed (of all partitions, or of `only`) on the partitions still held.
        A rebalance may have moved partitions to another replica: their new owner starts from the
        last commit, and the inbox absorbs what it sees again."""
        assigned = consumer.assignment()
        for tp in set(self._owed) - assigned:
            del self._owed[tp]
        offsets = {tp: offset for tp, offset in self._owed.items() if only is None or tp in only}
        if not offsets:
            return
        self._next_commit = time.monotonic() + self.settings.consumer_commit_interval_ms / 1000
        # Tried once, not kept for the next commit: against a broker that came back empty (or a
        # topic re-created), an offset owed from before would skip the records now below it. An
        # uncommitted offset only means redelivery, which the inbox absorbs. A poll applied while
        # the commit is under way owes its own, later offset again.
        for tp in offsets:
            del self._owed[tp]
        # Bounded: against a restarted broker that forgot the topic a commit would retry forever.
        try:
            await asyncio.wait_for(consumer.commit(offsets), OFFSET_COMMIT_TIMEOUT_S)
        except (TimeoutError, KafkaError) as exc:
            log.warning("offset commit failed; records will be redelivered", extra={"error": repr(exc)})
            return
        self._committed.update(offsets)
        metrics.CONSUMER_LAST_COMMIT.labels(self.group).set(time.time())

    async def _report_lag(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        """Every few seconds: log-end offset (asked of the broker) minus the committed offset, per
        partition held; series of partitions no longer held are dropped."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(self._lag_once(consumer), OFFSET_COMMIT_TIMEOUT_S)
            except Exception as exc:  # the gauge is best effort; the consumer loop reports outages
                log.debug("consumer lag not read", extra={"group": self.group, "error": repr(exc)})
            await sleep_or_stop(stop, LAG_INTERVAL_S)

    async def _lag_once(self, consumer: AIOKafkaConsumer) -> None:
        assigned = set(consumer.assignment())
        for tp in self._lag_reported - assigned:
            metrics.CONSUMER_LAG.remove(tp.topic, str(tp.partition), self.group)
        for tp in set(self._committed) - assigned:
            del self._committed[tp]  # its next owner commits it now; asked again if it comes back
        ends = await consumer.end_offsets(list(assigned)) if assigned else {}
        for tp, end in ends.items():
            committed = self._committed.get(tp)
            if committed is None:
                # Asked of the broker once per partition held, not at every turn: while this
                # consumer holds it, only its own commits move it (and one made during the
                # request is newer than the broker's answer).
                committed = self._committed.setdefault(tp, await consumer.committed(tp) or 0)
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition), self.group).set(max(0, end - committed))
        self._lag_reported = assigned

    async def _receive(self, record: ConsumerRecord[bytes, bytes]) -> _Received | None:
        """The record decoded and paired with its handler; None when it was skipped (another
        service's event type) or dead-lettered (malformed)."""
        if self._not_ours(record):
            metrics.consumer_messages(record.topic, self.group, "skipped").inc()
            return None
        try:
            headers = headers_dict(record.headers)
            event = decode_event(record.key, record.value, headers)
        except MalformedEvent as exc:
            await self._dead_letter(record, "malformed", exc)
            metrics.consumer_messages(record.topic, self.group, "dead_lettered").inc()
            return None
        return _Received(record, headers, event, self.handlers[event.contract.ce_type])

    def _not_ours(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        """A known event type this consumer does not handle, by its first ce_type header (an unknown
        or missing type is decoded, and dead-lettered as malformed)."""
        for key, value in record.headers or ():
            if key == "ce_type":
                return value in self.not_ours
        return False

    @contextlib.contextmanager
    def _span(self, item: _Received) -> Iterator[trace.Span]:
        """The record's "<topic> process" span, in the trace its headers carry."""
        record = item.record
        with tracer.start_as_current_span(
            f"{record.topic} process",
            context=propagate.extract(item.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.consumer.group.name": self.group,
                "messaging.kafka.offset": record.offset,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.message.id": item.event.id,
                "complaints.complaint_id": item.event.subject,
            },
            # The SDK's own recording keeps the error's message and traceback, which may carry
            # personal data (a handler's values): a failure is recorded as `safe_error` tells it.
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except Exception as exc:
                _record_failure(span, exc)
                span.set_status(trace.StatusCode.ERROR, safe_error(exc))
                raise

    def _count(self, item: _Received, outcome: str, seconds: float) -> None:
        metrics.consumer_messages(item.record.topic, self.group, outcome).inc()
        metrics.consumer_handler_seconds(item.record.topic, self.group).observe(seconds)

    async def _apply_batch(
        self,
        batch: Sequence[_Received],
        span_of: Callable[[_Received], contextlib.AbstractContextManager[trace.Span]],
    ) -> Exception | None:
        """Apply records (a poll's, a partition's, or one) in order in ONE transaction: one inbox
        claim for all of them (redeliveries drop out), their handlers (each in the span `span_of`
        gives it), one commit. The error when anything failed: then nothing of the batch took
        effect, and the caller splits it, so that a poison record is isolated without redoing or
        losing the others."""
        done: list[tuple[_Received, str, float]] = []
        try:
            async with self.db.transaction() as session:
                # The claim locks the batch's complaints first (Inbox.claim_many): batches of
                # other topics (side by side in this poll, or in another replica) that touch the
                # same complaints wait for this one's commit instead of deadlocking with it.
                fresh = await self.inbox.claim_many(
                    session,
                    self.group,
                    [(item.event.id, item.record.topic) for item in batch],
                    [item.event.subject for item in batch],
                )
                for item in batch:
                    with span_of(item) as span:
                        started = time.perf_counter()
                        outcome = "duplicate"
                        if item.event.id in fresh:
                            fresh.discard(item.event.id)  # the same event twice in one batch: once
                            await run_handler(session, self.group, item.event, item.handler)
                            outcome = "processed"
                        span.set_attribute("complaints.outcome", outcome)
                        done.append((item, outcome, time.perf_counter() - started))
        except Exception as exc:
            log.info(
                "a batch failed; it is split into its partitions or its records",
                extra={"group": self.group, "records": len(batch), "error": safe_error(exc)},
            )
            return exc
        for item, outcome, seconds in done:
            self._count(item, outcome, seconds)
        return None

    async def _apply_single(self, item: _Received) -> None:
        """A partition's only record (the common case at a steady load) goes the batch way too:
        one claim, its handler, one commit, without the retry machinery. Only when that fails
        does it go on as `_apply_alone` would, that attempt counted as its first: the same
        bounded attempts before a dead letter, the same retries of a transient error, and one
        span whichever way it goes."""
        with self._span(item) as span:
            started = time.perf_counter()
            failed = await self._apply_batch([item], lambda _: contextlib.nullcontext(span))
            if failed is not None:
                await self._isolate(item, span, started, failed)

    async def _apply_alone(self, item: _Received) -> None:
        """Apply one record in its own transaction: applied once, a duplicate, or dead-lettered."""
        with self._span(item) as span:
            await self._isolate(item, span, time.perf_counter())

    async def _isolate(
        self, item: _Received, span: trace.Span, started: float, failed: Exception | None = None
    ) -> None:
        """`failed`: the error of the record's first attempt, already made."""
        try:
            applied = await self._apply_with_retries(item, failed)
            outcome = "processed" if applied else "duplicate"
        except Exception as exc:
            if is_transient(exc) or self._stop.is_set():
                # Uncommitted, so redelivered: after the outage, or to the next consumer.
                raise
            _record_failure(span, exc)
            await self._dead_letter(item.record, "handler_failed", exc)
            outcome = "dead_lettered"
        span.set_attribute("complaints.outcome", outcome)
        self._count(item, outcome, time.perf_counter() - started)

    async def _apply_with_retries(self, item: _Received, failed: Exception | None) -> bool:
        """Attempts in a transaction of their own until one succeeds or `_give_up` says so; the
        first is already made when `failed` is its error."""
        made = 0
        if failed is not None:
            made = 1
            if self._give_up(failed, made):
                raise failed
            await asyncio.sleep(_backoff(made))
        async for attempt in AsyncRetrying(
            stop=lambda state: self._give_up(_error(state), made + state.attempt_number),
            wait=lambda state: _backoff(made + state.attempt_number),
            reraise=True,
        ):
            with attempt:
                return await self._apply(item.record.topic, item.event, item.handler)
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _give_up(self, error: BaseException | None, attempts: int) -> bool:
        """Retry a transient failure until shutdown; a malformed event never; any other failure
        until `consumer_max_attempts` attempts were made."""
        if self._stop.is_set() or error is None or isinstance(error, MalformedEvent):
            return True
        return not is_transient(error) and attempts >= self.settings.consumer_max_attempts

    async def _apply(self, topic: str, event: Event[Any], handler: Handler[Any]) -> bool:
        return await apply_once(self.db, self.inbox, self.group, topic, event, handler)

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], reason: str, exc: BaseException
    ) -> None:
        """Park the record, untouched, on the dead-letter topic; raising here means it is retried."""
        error = safe_error(exc)
        headers = [
            *(record.headers or ()),
            ("dlq_reason", reason.encode()),
            ("dlq_error", error.encode()),
            ("dlq_consumer_group", self.group.encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        await self.producer.send_and_wait(
            record.topic + DEAD_LETTER_SUFFIX, value=record.value, key=record.key, headers=headers
        )
        metrics.DEAD_LETTERS.labels(record.topic, self.group, reason).inc()
        log.error(
            "message dead-lettered",
            extra={"topic": record.topic, "offset": record.offset, "reason": reason, "error": error},
        )


def _record_failure(span: trace.Span, exc: Exception) -> None:
    """The span's "exception" event, with neither the error's message nor its traceback."""
    span.add_event("exception", {"exception.type": type(exc).__name__, "exception.message": safe_error(exc)})


def _error(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome else None


def _backoff(attempts: int) -> float:
    """The pause after the `attempts`-th failed attempt: 0.1 s, doubling, at most 5 s."""
    return float(min(RETRY_MAX_WAIT_S, RETRY_FIRST_WAIT_S * 2 ** (attempts - 1)))


async def _stop_quietly(consumer: AIOKafkaConsumer) -> None:
    try:
        await asyncio.wait_for(consumer.stop(), OFFSET_COMMIT_TIMEOUT_S)
    except Exception as exc:  # stopping is best effort; the group rebalances either way
        log.debug("consumer stop failed", extra={"error": repr(exc)})
