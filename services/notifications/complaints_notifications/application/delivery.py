"""The delivery loop: sends queued messages after they are committed, so a crash loses none.

1. Claim due messages with FOR UPDATE SKIP LOCKED (several workers share the queue), mark them
   `sending` with a lease, write an `in_flight` attempt to the log and look up each e-mail's thread
   (one query per batch), then commit.
2. Call the transport outside any transaction, passing the message id as the idempotency key
   (Message-ID, Idempotency-Key, webhook-id): the call is at least once, and the key lets the other
   side drop a repeat after a crash between the call and step 3.
3. Record the outcome and, in the same transaction, the notification.status event (outbox): the
   batch's sent messages together once all its sends are through (one transaction, two statements),
   each failure as it happens (its retry time, dead letter or failure push).
   Transient failures are retried with exponential backoff and jitter up to a limit, then the
   message is dead-lettered; a permanent failure stops at once. Both can be replayed over REST.

A worker that dies mid-send leaves its message `sending`. Each worker holds a session advisory lock
on its own id while it lives (on its LISTEN connection); another worker that can take that lock knows
the owner is gone and claims the message again at once, marking the lost attempt `interrupted`. The
lease is the backstop (e.g. a worker whose lock connection dropped). The loop wakes on LISTEN/NOTIFY
(a trigger fires when a message is queued, at commit) with a timed poll as the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.db import connect_raw
from complaints_common.events.contracts import NotificationStatus
from complaints_common.loops import BackgroundLoop, periodically, wait_for_wake
from complaints_common.telemetry import continued_trace
from complaints_notifications.application.pushes import push_delivery_failed, reported
from complaints_notifications.channels.base import Outgoing, PermanentFailure, TransientFailure, Transport
from complaints_notifications.channels.email import message_id_header
from complaints_notifications.channels.registry import transports as configured_transports
from complaints_notifications.dependencies import NotificationsDependencies
from complaints_notifications.domain.messages import Channel, QuietHours, customer_zone, retry_delay
from complaints_notifications.events.status import status_event
from complaints_notifications.store.messages import (
    DEAD_LETTERED,
    FAILED,
    QUEUED,
    SENT,
    Claimed,
    Delivered,
    MessageRecord,
    claim_due,
    finish_failed,
    finish_sent,
)
from complaints_notifications.store.recording import recipient_of
from complaints_notifications.store.tables import DELIVERY_CHANNEL, WORKER_LOCK_SPACE

log = logging.getLogger(__name__)

DELIVERIES = Counter(
    "notification_deliveries_total", "Delivery attempts by channel and outcome.", ["channel", "outcome"]
)
SEND_SECONDS = Histogram(
    "notification_send_duration_seconds",
    "Time a transport took to accept a message.",
    ["channel"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


# Each label child looked up once: `labels()` takes a lock and builds a key on every call.
@functools.cache
def _deliveries(channel: str, outcome: str) -> Counter:
    return DELIVERIES.labels(channel, outcome)


@functools.cache
def _send_seconds(channel: str) -> Histogram:
    return SEND_SECONDS.labels(channel)


@dataclass(frozen=True, slots=True)
class _Sent:
    """A message its transport took: its log row to close and its status event's outbox row."""

    delivered: Delivered
    message: MessageRecord
    status: dict[str, Any] | None


class DeliveryWorker:
    def __init__(self, deps: NotificationsDependencies, transports: dict[Channel, Transport]) -> None:
        settings = deps.settings
        self.runtime = deps.runtime
        self.settings = settings
        self.transports = transports
        self.quiet_hours = QuietHours(settings.sms_quiet_start, settings.sms_quiet_end)
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(settings.delivery_concurrency)
        self._listener: asyncpg.Connection | None = None
        # The name each channel's transport logs its attempts under.
        self._transport_names = {channel.value: transport.name for channel, transport in transports.items()}

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; a database outage pauses the loop, it never ends it."""
        try:
            await periodically(stop, "delivery", self._turn, self._wait)
        finally:
            if self._listener is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._listener.close(), 5)

    async def _turn(self) -> bool:
        if self._listener is None or self._listener.is_closed():
            # No claim without the liveness lock: others would take our messages mid-send.
            self._listener = await self._listen()
        # Cleared before the claim: a message queued while this batch is sent wakes the next.
        self._wake.clear()
        return await self.deliver_due() >= self.settings.delivery_batch_size

    async def deliver_due(self) -> int:
        """Claim one batch of due messages and send them side by side; return how many were claimed."""
        now = datetime.now(UTC)
        async with self.runtime.db.transaction() as session:
            claimed = await claim_due(
                session,
                now,
                self.settings.delivery_batch_size,
                self.settings.delivery_lease_s,
                self.worker_id,
                self._transport_names,
            )
        sent = await asyncio.gather(*(self._deliver(c) for c in claimed))
        await self._sent([done for done in sent if done is not None])
        return len(claimed)

    async def _deliver(self, claimed: Claimed) -> _Sent | None:
        async with self._limit:
            message = claimed.message
            attributes = {"complaints.kind": message.kind}
            if message.complaint_id is not None:
                attributes["complaints.complaint_id"] = str(message.complaint_id)
            with continued_trace("notification deliver", message.trace_context, attributes):
                return await self._send(claimed)

    async def _send(self, claimed: Claimed) -> _Sent | None:
        """Hand the message to its transport: what to record once the batch is through if it was
        taken, None if it failed (recorded at once: its retry time, dead letter or failure push)."""
        message = claimed.message
        transport = self._transport(message)
        started = asyncio.get_running_loop().time()
        try:
            reference = await transport.send(self._outgoing(message, claimed.thread))
        except TransientFailure as exc:
            await self._failed(claimed, str(exc), permanent=False)
        except PermanentFailure as exc:
            await self._failed(claimed, str(exc), permanent=True)
        except Exception as exc:  # a bug or an unexpected library error: retried, never silent
            log.exception("unexpected delivery error", extra={"message_id": str(message.id)})
            await self._failed(claimed, f"unexpected {type(exc).__name__}", permanent=False)
        else:
            _send_seconds(message.channel).observe(asyncio.get_running_loop().time() - started)
            now = datetime.now(UTC)
            # The status event's row is built here, inside the message's span: it carries its trace.
            status = None
            if reported(message.kind):
                status = self.runtime.outbox.row(status_event(message, SENT, now))
            return _Sent(
                Delivered(message.id, claimed.attempt, claimed.attempt_id, reference, now), message, status
            )
        return None

    def _transport(self, message: MessageRecord) -> Transport:
        return self.transports[Channel(message.channel)]

    def _outgoing(self, message: MessageRecord, thread: list[UUID]) -> Outgoing:
        return Outgoing(
            id=message.id,
            complaint_id=message.complaint_id,
            kind=message.kind,
            channel=message.channel,
            # None only once the customer's data was erased mid-send: the transport refuses it.
            recipient=message.recipient or "",
            subject=message.subject,
            body=message.body or "",
            html=message.html,
            language=message.language,
            created_at=message.created_at,
            thread=[message_id_header(i, self.settings.message_id_domain) for i in thread],
            subscription_id=message.subscription_id,
        )

    async def _sent(self, sent: list[_Sent]) -> None:
        """The batch's delivered messages, recorded in one transaction with their status events (a
        crash before it commits sends them again, with the same ids, as a crash mid-send does)."""
        if not sent:
            return
        async with self.runtime.db.transaction() as session:
            await finish_sent(session, [s.delivered for s in sent])
            await self.runtime.outbox.insert(session, [s.status for s in sent if s.status is not None])
        for s in sent:
            _deliveries(s.message.channel, SENT).inc()
            log.info(
                "message sent",
                extra={"message_id": str(s.message.id), "kind": s.message.kind, "channel": s.message.channel},
            )

    async def _failed(self, claimed: Claimed, error: str, *, permanent: bool) -> None:
        message, now = claimed.message, datetime.now(UTC)
        failures = message.failures + 1
        give_up = permanent or failures >= self.settings.delivery_max_attempts
        status: NotificationStatus = FAILED if permanent else DEAD_LETTERED
        outcome: str = status
        next_attempt_at: datetime | None = None
        async with self.runtime.db.transaction() as session:
            if not give_up:
                outcome = "retry"
                delay = retry_delay(
                    failures, self.settings.delivery_backoff_base_s, self.settings.delivery_backoff_max_s
                )
                next_attempt_at = await self._retry_at(session, message, now + timedelta(seconds=delay))
            await finish_failed(
                session,
                message.id,
                claimed.attempt,
                outcome=outcome,
                error=error[:500],
                failures=failures,
                status=status if give_up else QUEUED,
                next_attempt_at=next_attempt_at,
            )
            if give_up and reported(message.kind):
                await self.runtime.outbox.add(session, status_event(message, status, now))
                await push_delivery_failed(session, message, status, error[:500], now)
        _deliveries(message.channel, outcome).inc()
        log.warning(
            "message not delivered",
            extra={"message_id": str(message.id), "outcome": outcome, "failures": failures, "error": error},
        )

    async def _retry_at(self, session: AsyncConnection, message: MessageRecord, at: datetime) -> datetime:
        """A retried SMS must not land in the customer's quiet hours either."""
        if message.channel != Channel.SMS:
            return at
        recipient = await recipient_of(session, message.complaint_id) if message.complaint_id else None
        contact = recipient.contact if recipient else {}
        return self.quiet_hours.next_allowed(at, customer_zone(contact, self.settings.default_time_zone))

    async def _listen(self) -> asyncpg.Connection:
        """The worker's own connection: its liveness lock, and LISTEN for queued messages. A database
        that cannot be reached fails the turn as a transient error, which `periodically` waits out."""
        conn = await connect_raw(self.settings)
        try:
            await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", WORKER_LOCK_SPACE, self.worker_id)
            await conn.add_listener(DELIVERY_CHANNEL, lambda *_: self._wake.set())
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)
            raise
        return conn

    async def _wait(self, stop: asyncio.Event) -> None:
        await wait_for_wake(self._wake, stop, self.settings.delivery_poll_interval_s)


def delivery_loops(deps: NotificationsDependencies) -> list[BackgroundLoop]:
    """The delivery loop, with its HTTP client (SMS, webhooks) living as long as the loop."""

    async def deliver(stop: asyncio.Event) -> None:
        async with httpx.AsyncClient() as client:
            transports = configured_transports(
                deps.settings, client, deps.runtime.db, deps.targets, deps.secrets
            )
            try:
                await DeliveryWorker(deps, transports).run(stop)
            finally:
                await asyncio.gather(*(t.aclose() for t in set(transports.values())))

    return [deliver]
