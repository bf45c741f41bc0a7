"""Recording recipients and messages, and working the delivery queue."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID, uuid4

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Row,
    Text,
    and_,
    bindparam,
    case,
    column,
    func,
    literal_column,
    or_,
    select,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import ERASED
from complaints_common.telemetry import current_trace_context
from complaints_notifications.domain.messages import Recipient
from complaints_notifications.store.tables import (
    COMPOSE_LOCK_SPACE,
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


# The statements every consumed event runs are built once, their values bound at execution:
# building a SQLAlchemy statement per call was a fifth of the handlers' CPU (`make profile`).
_saving = insert(recipients)
_SAVE_RECIPIENT = _saving.on_conflict_do_update(
    index_elements=[recipients.c.complaint_id],
    set_={
        column: _saving.excluded[column]
        for column in ("customer_id", "reference", "contact", "confidential", "client_id", "last_told_at")
    }
    | {"filed": True},
    where=~recipients.c.filed,
)
_LOCK_COMPLAINT = select(
    func.pg_advisory_xact_lock(COMPOSE_LOCK_SPACE, func.hashtext(bindparam("complaint", type_=Text)))
)
_RECIPIENT = select(recipients).where(recipients.c.complaint_id == bindparam("complaint"), recipients.c.filed)
_TOLD = update(recipients).where(recipients.c.complaint_id == bindparam("complaint"))
_QUEUE_MESSAGE = insert(messages).on_conflict_do_nothing().returning(messages.c.id)
_AWAITING = (
    select(messages)
    .where(messages.c.complaint_id == bindparam("complaint"), messages.c.status == AWAITING_RECIPIENT)
    .order_by(messages.c.created_at)
    .with_for_update()
)
_COMPOSED = update(messages).where(messages.c.id == bindparam("message")).returning(*messages.c)


async def save_recipient(
    session: AsyncConnection,
    *,
    complaint_id: UUID,
    customer_id: str,
    reference: str,
    contact: dict[str, Any],
    confidential: bool,
    client_id: str,
    deadlines: list[dict[str, Any]],
    last_told_at: datetime,
) -> None:
    """The complaint's recipient, from complaint.created; where a later event's state came first,
    its due times and open flag are kept (they are newer), the rest filled in."""
    values = {
        "complaint_id": complaint_id,
        "customer_id": customer_id,
        "reference": reference,
        "contact": contact,
        "confidential": confidential,
        "client_id": client_id,
        "deadlines": deadlines,
        "last_told_at": last_told_at,
        "filed": True,
    }
    await session.execute(_SAVE_RECIPIENT, values)


async def record_state(
    session: AsyncConnection,
    complaint_id: UUID,
    client_id: str | None,
    customer_id: str,
    deadlines: list[dict[str, Any]],
    open_: bool | None = None,
    escalation_level: int | None = None,
) -> None:
    """A status or due-time change: kept on the recipient, or on a placeholder until
    complaint.created arrives (the events travel on different topics)."""
    given = {"deadlines": deadlines, "open": open_, "escalation_level": escalation_level}
    state = {column: value for column, value in given.items() if value is not None}
    placeholder: dict[str, object] = {
        "complaint_id": complaint_id,
        "client_id": client_id,
        "customer_id": customer_id,
        "reference": "",
        "contact": {},
        "confidential": False,
        "filed": False,
    }
    await session.execute(_recording_state(tuple(state)), placeholder | state)


@functools.cache
def _recording_state(columns: tuple[str, ...]) -> Insert:
    """The placeholder-or-update statement for the state `columns` an event carries, built once."""
    statement = insert(recipients)
    return statement.on_conflict_do_update(
        index_elements=[recipients.c.complaint_id],
        set_={column: statement.excluded[column] for column in columns},
    )


async def lock_complaint(session: AsyncConnection, complaint_id: UUID) -> None:
    """Hold the complaint until commit: of two transactions that each wrote a message or the
    recipient, the later one then sees what the earlier one committed (else both can miss it)."""
    await session.execute(_LOCK_COMPLAINT, {"complaint": str(complaint_id)})


async def recipient_of(session: AsyncConnection, complaint_id: UUID) -> Recipient | None:
    row = (await session.execute(_RECIPIENT, {"complaint": complaint_id})).first()
    if row is None:
        return None
    return Recipient(
        customer_id=row.customer_id,
        client_id=row.client_id,
        reference=row.reference,
        confidential=row.confidential,
        contact=dict(row.contact),
        deadlines=tuple(row.deadlines or ()),
        escalated=row.escalation_level > 0,
    )


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


async def queue_message(
    session: AsyncConnection,
    *,
    event_id: str,
    client_id: str | None,
    complaint_id: UUID,
    kind: str,
    data: dict[str, Any],
    subscription_id: UUID | None = None,
) -> UUID | None:
    """Record that `kind` must be said for this event (to the subscription, for a call-back task
    pushed to one); None if it was already recorded."""
    values = {
        "id": uuid4(),
        "event_id": event_id,
        "client_id": client_id,
        "complaint_id": complaint_id,
        "kind": kind,
        "channel": "pending",
        "data": data,
        "trace_context": current_trace_context(),
        "status": AWAITING_RECIPIENT,
        "subscription_id": subscription_id,
    }
    row = (await session.execute(_QUEUE_MESSAGE, values)).first()
    return row[0] if row else None


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
) -> bool:
    """Queue a push to one subscription, ready to send; False if this event already queued it."""
    statement = (
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
        .returning(messages.c.id)
    )
    return (await session.execute(statement)).first() is not None


async def awaiting(session: AsyncConnection, complaint_id: UUID) -> list[MessageRecord]:
    rows = await session.execute(_AWAITING, {"complaint": complaint_id})
    return [MessageRecord.of(row) for row in rows]


async def set_composed(session: AsyncConnection, message_id: UUID, composed: Composed) -> MessageRecord:
    """The recipient is known and the text rendered (or found unreachable): the message as it is now."""
    values = {
        "message": message_id,
        "channel": composed.channel,
        "recipient": composed.recipient,
        "customer_id": composed.customer_id,
        "client_id": composed.client_id,
        "status": composed.status,
        "subject": composed.subject,
        "body": composed.body,
        "html": composed.html,
        "language": composed.language,
        "next_attempt_at": composed.next_attempt_at,
        "last_error": composed.last_error,
    }
    row = await session.execute(_COMPOSED, values)
    return MessageRecord.of(row.one())


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message the caller now owns until its lease ends, and the number of this attempt."""

    message: MessageRecord
    attempt: int


async def claim_due(
    session: AsyncConnection, now: datetime, limit: int, lease_s: float, worker_id: str
) -> list[Claimed]:
    """Take up to `limit` messages that are due, or whose sender died mid-send, and mark them ours.

    A sender is known dead when its liveness lock is free (its connection closed with the process),
    or, whatever happens to that lock, when its lease is over."""
    owner_gone = func.pg_try_advisory_xact_lock(WORKER_LOCK_SPACE, func.hashtext(messages.c.claimed_by))
    due = (
        select(messages.c.id)
        .where(
            or_(
                and_(messages.c.status == QUEUED, messages.c.next_attempt_at <= now),
                and_(messages.c.status == SENDING, or_(messages.c.lease_until < now, owner_gone)),
            )
        )
        .order_by(messages.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = await session.execute(
        update(messages)
        .where(messages.c.id.in_(due.scalar_subquery()))
        .values(
            status=SENDING,
            attempts=messages.c.attempts + 1,
            lease_until=now + timedelta(seconds=lease_s),
            # Whose liveness lock vouches for this send: free lock, dead sender, claim it again.
            claimed_by=worker_id,
        )
        .returning(*messages.c)
    )
    claimed = [Claimed(MessageRecord.of(row), row.attempts) for row in rows]
    if claimed:
        # An earlier attempt still "in flight" belongs to a worker that died mid-send.
        await session.execute(
            update(delivery_attempts)
            .where(
                delivery_attempts.c.message_id.in_([c.message.id for c in claimed]),
                delivery_attempts.c.outcome == "in_flight",
            )
            .values(outcome="interrupted", finished_at=now)
        )
    return claimed


async def record_attempt_start(
    session: AsyncConnection, claimed: list[Claimed], transports: dict[UUID, str]
) -> None:
    if claimed:
        await session.execute(
            delivery_attempts.insert(),
            [
                {
                    "message_id": c.message.id,
                    "attempt": c.attempt,
                    "transport": transports[c.message.id],
                    "outcome": "in_flight",
                }
                for c in claimed
            ],
        )


@dataclass(frozen=True, slots=True)
class Delivered:
    """An attempt the transport accepted, when, and the reference it gave."""

    message_id: UUID
    attempt: int
    reference: str | None
    at: datetime


async def finish_sent(session: AsyncConnection, delivered: Sequence[Delivered]) -> None:
    """The attempts delivered their messages: close their log rows and mark the messages sent, two
    statements for a whole batch (a message claimed again since is left alone: `attempts` moved on)."""
    if not delivered:
        return
    done = values(
        column("message_id", PG_UUID(as_uuid=True)),
        column("attempt", Integer),
        column("reference", Text),
        column("at", DateTime(timezone=True)),
        name="done",
    ).data([(d.message_id, d.attempt, d.reference, d.at) for d in delivered])
    await session.execute(
        update(delivery_attempts)
        .where(
            delivery_attempts.c.message_id == done.c.message_id,
            delivery_attempts.c.attempt == done.c.attempt,
        )
        .values(outcome=SENT, detail=None, provider_reference=done.c.reference, finished_at=func.now())
    )
    await session.execute(
        update(messages)
        .where(messages.c.id == done.c.message_id, messages.c.attempts == done.c.attempt)
        .values(
            lease_until=None,
            status=SENT,
            sent_at=done.c.at,
            last_error=None,
            provider_reference=done.c.reference,
        )
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


async def email_threads(session: AsyncConnection, emails: Sequence[MessageRecord]) -> dict[UUID, list[UUID]]:
    """For each of `emails`, the ids of its complaint's e-mails written before it, oldest first
    (one query for the whole batch)."""
    threads: dict[UUID, list[UUID]] = {email.id: [] for email in emails}
    if not emails:
        return threads
    earlier = await session.execute(
        select(messages.c.id, messages.c.complaint_id, messages.c.created_at)
        .where(
            messages.c.complaint_id.in_({email.complaint_id for email in emails}),
            messages.c.channel == "email",
            messages.c.created_at < max(email.created_at for email in emails),
            messages.c.status.in_((QUEUED, SENDING, SENT)),
        )
        .order_by(messages.c.created_at)
    )
    by_complaint: dict[UUID | None, list[MessageRecord]] = defaultdict(list)
    for email in emails:
        by_complaint[email.complaint_id].append(email)
    for found in earlier:
        for email in by_complaint[found.complaint_id]:
            if found.created_at < email.created_at:
                threads[email.id].append(found.id)
    return threads


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
