"""Messages and recipients read back, and the delivery queue worked (what a consumed event
records is in `store/recording.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Row,
    Text,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import ERASED
from complaints_common.telemetry import current_trace_context
from complaints_notifications.store.sql import Statement, columns
from complaints_notifications.store.tables import (
    COMPOSE_LOCK_SPACE,
    SCHEMA,
    WORKER_LOCK_SPACE,
    delivery_attempts,
    messages,
    recipients,
)

QUEUED: Final = "queued"
SENDING: Final = "sending"
SENT: Final = "sent"
FAILED: Final = "failed"
DEAD_LETTERED: Final = "dead_lettered"
AWAITING_RECIPIENT: Final = "awaiting_recipient"
REPLAYABLE = (FAILED, DEAD_LETTERED)


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One row of `messages`: what is (or was) to be said, to whom, and where its delivery stands.
    `data` is the asking event's data (free-form JSON) kept until the message is composed."""

    id: UUID
    event_id: str
    client_id: str | None
    complaint_id: UUID | None
    customer_id: str | None
    kind: str
    channel: str
    recipient: str | None
    language: str | None
    subject: str | None
    body: str | None
    html: str | None
    data: dict[str, Any]
    trace_context: dict[str, Any]
    status: str
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    failures: int
    next_attempt_at: datetime | None
    lease_until: datetime | None
    claimed_by: str | None
    last_error: str | None
    provider_reference: str | None
    subscription_id: UUID | None

    @classmethod
    def of(cls, row: Row[Any]) -> MessageRecord:
        return cls(**row._mapping)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One row of the delivery log."""

    id: int
    message_id: UUID
    attempt: int
    transport: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    detail: str | None
    provider_reference: str | None


@dataclass(frozen=True, slots=True)
class Composed:
    """What composing a message sets on it: where it goes, what it says, and whether it is queued
    (then when it is first due) or failed (then why)."""

    channel: str
    recipient: str | None
    customer_id: str
    client_id: str | None
    status: str
    subject: str | None = None
    body: str | None = None
    html: str | None = None
    language: str | None = None
    next_attempt_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class SilentComplaint:
    """A complaint still open and silent, locked: whose it is and how many updates it had."""

    client_id: str | None
    progress_updates: int


_LOCK_COMPLAINT = select(
    func.pg_advisory_xact_lock(COMPOSE_LOCK_SPACE, func.hashtext(bindparam("complaint", type_=Text)))
)
_TOLD = update(recipients).where(recipients.c.complaint_id == bindparam("complaint"))


async def lock_complaint(session: AsyncConnection, complaint_id: UUID) -> None:
    """Hold the complaint until commit: of two transactions that each wrote a message or the
    recipient, the later one then sees what the earlier one committed (else both can miss it).
    The consumers take it inside their first statement (`store/recording.py`)."""
    await session.execute(_LOCK_COMPLAINT, {"complaint": str(complaint_id)})


async def update_recipient(
    session: AsyncConnection,
    complaint_id: UUID,
    *,
    last_told_at: datetime,
    progress_updates: int | None = None,
) -> None:
    """The customer was told something at `last_told_at` (a progress update also counts itself)."""
    values: dict[str, object] = {"complaint": complaint_id, "last_told_at": last_told_at}
    if progress_updates is not None:
        values["progress_updates"] = progress_updates
    await session.execute(_TOLD, values)


async def silent_open_complaints(session: AsyncConnection, told_before: datetime, batch: int) -> list[UUID]:
    """Open complaints whose customer has heard nothing since `told_before` (unlocked: the caller
    takes each one's compose lock first, then `still_silent`, the order the consumers lock in)."""
    query = (
        select(recipients.c.complaint_id)
        .where(recipients.c.open, recipients.c.last_told_at < told_before)
        .order_by(recipients.c.last_told_at)
        .limit(batch)
    )
    return list((await session.execute(query)).scalars())


async def still_silent(
    session: AsyncConnection, complaint_id: UUID, told_before: datetime
) -> SilentComplaint | None:
    """The recipient, locked, if the complaint is still open and silent since `told_before`."""
    query = (
        select(recipients.c.client_id, recipients.c.progress_updates)
        .where(
            recipients.c.complaint_id == complaint_id,
            recipients.c.open,
            recipients.c.last_told_at < told_before,
        )
        .with_for_update()
    )
    row = (await session.execute(query)).first()
    return SilentComplaint(row.client_id, row.progress_updates) if row else None


async def queue_push(
    session: AsyncConnection,
    *,
    message_id: UUID,
    event_id: str,
    client_id: str,
    complaint_id: UUID | None,
    kind: str,
    subscription_id: UUID,
    body: str,
    now: datetime,
) -> None:
    """Queue a push to one subscription, ready to send, unless this event already queued it."""
    await session.execute(
        insert(messages)
        .values(
            id=message_id,
            event_id=event_id,
            client_id=client_id,
            complaint_id=complaint_id,
            kind=kind,
            channel="webhook",
            recipient=str(subscription_id),
            subscription_id=subscription_id,
            body=body,
            data={},
            trace_context=current_trace_context(),
            status=QUEUED,
            next_attempt_at=now,
        )
        .on_conflict_do_nothing()
    )


def message_of(row: Mapping[str, Any]) -> MessageRecord:
    """A `messages` row as the driver returns it."""
    return MessageRecord(**{column.name: row[column.name] for column in messages.c})


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message the caller now owns until its lease ends, the number of this attempt and the id of
    its log row (None if no transport logs the channel), and for an e-mail the ids of its
    complaint's e-mails written before it, oldest first (its thread)."""

    message: MessageRecord
    attempt: int
    attempt_id: int | None
    thread: list[UUID]


# One statement for a whole claim: due messages (or those whose sender died mid-send: its liveness
# lock is free, or whatever happens to that lock, its lease is over) marked ours, their earlier
# attempts still "in flight" marked interrupted (a worker died mid-send), this attempt's log row
# written with the transport of its channel, and each e-mail's thread read. Every part sees the
# rows as they were before the statement: a claimed e-mail's thread is the e-mails created before
# it that are queued, sending or sent, as a later read would find them too.
# Each part reads only the rows it touches. A message is only ever made `sending` once due, so
# every candidate has `next_attempt_at <= now`: said once for both statuses, it bounds the scan of
# `ix_messages_due` (an OR of the two statuses with the bound on one side only could not, and read
# every retry still waiting and every message in flight on each claim). The updates are keyed by
# `= ANY(ARRAY(...))`, which the planner takes as an index condition on the keys; joined to a CTE
# it guesses the CTE's size and hash-joins a sequential scan of the table.
_CLAIM = Statement(
    f"""WITH due AS (
        SELECT id FROM {SCHEMA}.messages
        WHERE status IN ('{QUEUED}', '{SENDING}') AND next_attempt_at <= :now::timestamptz
            AND (status = '{QUEUED}' OR lease_until < :now::timestamptz
                OR pg_try_advisory_xact_lock({WORKER_LOCK_SPACE}, hashtext(claimed_by)))
        ORDER BY next_attempt_at
        LIMIT :limit::int
        FOR UPDATE SKIP LOCKED),
    claimed AS (
        UPDATE {SCHEMA}.messages m
        SET status = '{SENDING}', attempts = m.attempts + 1, lease_until = :lease_until::timestamptz,
            claimed_by = :worker::text
        WHERE m.id = ANY(ARRAY(SELECT id FROM due))
        RETURNING {columns(messages.c, "m")}),
    interrupted AS (
        UPDATE {SCHEMA}.delivery_attempts a SET outcome = 'interrupted', finished_at = :now::timestamptz
        WHERE a.message_id = ANY(ARRAY(SELECT id FROM claimed)) AND a.outcome = 'in_flight'),
    started AS (
        INSERT INTO {SCHEMA}.delivery_attempts (message_id, attempt, transport, outcome)
        SELECT c.id, c.attempts, t.transport, 'in_flight'
        FROM claimed c JOIN unnest(:channels::text[], :transports::text[]) AS t(channel, transport)
            ON t.channel = c.channel
        RETURNING id, message_id)
    SELECT c.*, s.id AS attempt_id, ARRAY(
        SELECT e.id FROM {SCHEMA}.messages e
        WHERE c.channel = 'email' AND e.complaint_id = c.complaint_id AND e.channel = 'email'
            AND e.created_at < c.created_at AND e.status IN ('{QUEUED}', '{SENDING}', '{SENT}')
        ORDER BY e.created_at) AS thread
    FROM claimed c LEFT JOIN started s ON s.message_id = c.id"""
)


async def claim_due(
    session: AsyncConnection,
    now: datetime,
    limit: int,
    lease_s: float,
    worker_id: str,
    transports: Mapping[str, str],
) -> list[Claimed]:
    """Take up to `limit` messages that are due, or whose sender died mid-send, and mark them ours
    (`worker_id`: whose liveness lock vouches for the send), logging each attempt as in flight on the
    transport named for its channel in `transports`."""
    rows = await _CLAIM.fetch(
        session,
        {
            "now": now,
            "limit": limit,
            "lease_until": now + timedelta(seconds=lease_s),
            "worker": worker_id,
            "channels": list(transports),
            "transports": list(transports.values()),
        },
    )
    return [Claimed(message_of(row), row["attempts"], row["attempt_id"], list(row["thread"])) for row in rows]


@dataclass(frozen=True, slots=True)
class Delivered:
    """An attempt the transport accepted (its number and its log row's id), when, and the
    reference it gave."""

    message_id: UUID
    attempt: int
    attempt_id: int | None
    reference: str | None
    at: datetime


# A message claimed again since is left alone: `attempts` moved on. Both updates are keyed by primary
# keys (`= ANY`), which the planner takes as index conditions of as many rows as there are keys:
# joined to the `done` CTE alone (materialised: two parts read it), it guessed 100 rows and
# hash-joined a sequential scan of the whole table (up to a few thousand rows).
_SENT = Statement(
    f"""WITH done AS (
        SELECT * FROM unnest(
            :ids::uuid[], :attempts::int[], :attempt_ids::bigint[], :references::text[], :ats::timestamptz[])
            AS d(message_id, attempt, attempt_id, reference, at)),
    closed AS (
        UPDATE {SCHEMA}.delivery_attempts a
        SET outcome = '{SENT}', detail = NULL, provider_reference = done.reference, finished_at = now()
        FROM done WHERE a.id = ANY(:attempt_ids::bigint[]) AND a.id = done.attempt_id)
    UPDATE {SCHEMA}.messages m
    SET lease_until = NULL, status = '{SENT}', sent_at = done.at, last_error = NULL,
        provider_reference = done.reference
    FROM done WHERE m.id = ANY(:ids::uuid[]) AND m.id = done.message_id AND m.attempts = done.attempt"""
)


async def finish_sent(session: AsyncConnection, delivered: Sequence[Delivered]) -> None:
    """The attempts delivered their messages: close their log rows and mark the messages sent, one
    statement for a whole batch."""
    if delivered:
        await _SENT.execute(
            session,
            {
                "ids": [d.message_id for d in delivered],
                "attempts": [d.attempt for d in delivered],
                "attempt_ids": [d.attempt_id for d in delivered],
                "references": [d.reference for d in delivered],
                "ats": [d.at for d in delivered],
            },
        )


async def finish_failed(
    session: AsyncConnection,
    message_id: UUID,
    attempt: int,
    *,
    outcome: str,
    error: str,
    failures: int,
    status: str,
    next_attempt_at: datetime | None,
) -> None:
    """The attempt failed: close its log row and queue the message again (`next_attempt_at`) or
    leave it failed or dead-lettered (`status`)."""
    await _close_attempt(session, message_id, attempt, outcome, error, None)
    await session.execute(
        update(messages)
        .where(messages.c.id == message_id, messages.c.attempts == attempt)
        .values(
            lease_until=None,
            failures=failures,
            last_error=error,
            status=status,
            next_attempt_at=next_attempt_at,
        )
    )


async def _close_attempt(
    session: AsyncConnection,
    message_id: UUID,
    attempt: int,
    outcome: str,
    detail: str | None,
    provider_reference: str | None,
) -> None:
    await session.execute(
        update(delivery_attempts)
        .where(delivery_attempts.c.message_id == message_id, delivery_attempts.c.attempt == attempt)
        .values(outcome=outcome, detail=detail, provider_reference=provider_reference, finished_at=func.now())
    )


def visible(client_id: str, confidential: bool) -> list[ColumnElement[bool]]:
    """The client's own messages; a confidential complaint's only for a caller allowed to read
    confidential complaints."""
    conditions = [messages.c.client_id == client_id]
    if not confidential:
        secret = select(recipients.c.complaint_id).where(recipients.c.confidential)
        # A test delivery (no complaint) is about nothing confidential.
        conditions.append(
            or_(messages.c.complaint_id.is_(None), messages.c.complaint_id.not_in(secret.scalar_subquery()))
        )
    return conditions


async def replay(
    session: AsyncConnection, client_id: str, message_id: UUID, now: datetime
) -> MessageRecord | None:
    """Queue a failed or dead-lettered message of the client again with a fresh retry budget; None
    if it is not replayable (unknown, another client's, or not failed). Its id, and so its
    idempotency key, stays the same."""
    row = (
        await session.execute(
            update(messages)
            .where(
                messages.c.id == message_id,
                messages.c.client_id == client_id,
                messages.c.status.in_(REPLAYABLE),
            )
            .values(status=QUEUED, failures=0, next_attempt_at=now, last_error=None)
            .returning(*messages.c)
        )
    ).first()
    return MessageRecord.of(row) if row else None


async def message_by_id(
    session: AsyncConnection, message_id: UUID, client_id: str, confidential: bool = True
) -> MessageRecord | None:
    query = select(messages).where(messages.c.id == message_id, *visible(client_id, confidential))
    row = (await session.execute(query)).first()
    return MessageRecord.of(row) if row else None


async def messages_for(
    session: AsyncConnection, client_id: str, complaint_id: UUID, confidential: bool
) -> list[MessageRecord]:
    rows = await session.execute(
        select(messages)
        .where(messages.c.complaint_id == complaint_id, *visible(client_id, confidential))
        .order_by(messages.c.created_at)
    )
    return [MessageRecord.of(row) for row in rows]


async def messages_for_customer(
    session: AsyncConnection, client_id: str, customer_id: str, confidential: bool, limit: int, offset: int
) -> list[MessageRecord]:
    rows = await session.execute(
        select(messages)
        .where(messages.c.customer_id == customer_id, *visible(client_id, confidential))
        .order_by(messages.c.created_at.desc(), messages.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [MessageRecord.of(row) for row in rows]


async def attempts_of(session: AsyncConnection, message_ids: list[UUID]) -> dict[UUID, list[AttemptRecord]]:
    """Each message's delivery log, first attempt first."""
    found: dict[UUID, list[AttemptRecord]] = {message_id: [] for message_id in message_ids}
    if message_ids:
        rows = await session.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.message_id.in_(message_ids))
            .order_by(delivery_attempts.c.message_id, delivery_attempts.c.attempt)
        )
        for row in rows:
            found[row.message_id].append(AttemptRecord(**row._mapping))
    return found


# The contact keeps the customer's id and language: nothing that names or reaches them.
_FORGOTTEN_CONTACT = (
    "contact - 'name' - 'email' - 'phone' - 'time_zone' || '{\"preferred_channel\": \"none\"}'::jsonb"
)


async def forget_customer(session: AsyncConnection, complaint_id: UUID) -> None:
    """Erasure: the contact, the addresses and every word sent; kinds, channels, statuses and times
    stay. A message not sent yet never will be."""
    await session.execute(
        update(recipients)
        .where(recipients.c.complaint_id == complaint_id)
        # Nobody left to give progress updates to.
        .values(contact=literal_column(_FORGOTTEN_CONTACT), open=False)
    )
    await session.execute(
        update(messages)
        .where(messages.c.complaint_id == complaint_id, messages.c.status.in_([QUEUED, AWAITING_RECIPIENT]))
        .values(status=FAILED, last_error="the customer's data was erased before sending")
    )
    await session.execute(
        update(messages)
        .where(messages.c.complaint_id == complaint_id)
        .values(
            recipient=None,
            subject=case((messages.c.subject.is_(None), None), else_=ERASED),
            body=case((messages.c.body.is_(None), None), else_=ERASED),
            html=None,
            data=literal_column("data - 'customer' - 'explanation'"),
        )
    )
    of_complaint = select(messages.c.id).where(messages.c.complaint_id == complaint_id)
    await session.execute(
        update(delivery_attempts).where(delivery_attempts.c.message_id.in_(of_complaint)).values(detail=None)
    )
