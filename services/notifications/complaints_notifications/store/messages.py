"""Recording recipients and messages, and working the delivery queue."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID, uuid4

from sqlalchemy import ColumnElement, and_, case, func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert
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


async def save_recipient(session: AsyncConnection, values: dict[str, Any]) -> None:
    """The complaint's recipient, from complaint.created; where a later event's state came first,
    its due times and open flag are kept (they are newer), the rest filled in."""
    statement = insert(recipients).values(**values, filed=True)
    filled = {k: statement.excluded[k] for k in values if k not in ("complaint_id", "deadlines")}
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[recipients.c.complaint_id],
            set_={**filled, "filed": True},
            where=~recipients.c.filed,
        )
    )


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
    state: dict[str, Any] = {"deadlines": deadlines}
    if open_ is not None:
        state["open"] = open_
    if escalation_level is not None:
        state["escalation_level"] = escalation_level
    statement = insert(recipients).values(
        complaint_id=complaint_id,
        client_id=client_id,
        customer_id=customer_id,
        reference="",
        contact={},
        confidential=False,
        filed=False,
        **state,
    )
    await session.execute(
        statement.on_conflict_do_update(index_elements=[recipients.c.complaint_id], set_=state)
    )


async def lock_complaint(session: AsyncConnection, complaint_id: UUID) -> None:
    """Hold the complaint until commit: of two transactions that each wrote a message or the
    recipient, the later one then sees what the earlier one committed (else both can miss it)."""
    await session.execute(
        select(func.pg_advisory_xact_lock(COMPOSE_LOCK_SPACE, func.hashtext(str(complaint_id))))
    )


async def recipient_of(session: AsyncConnection, complaint_id: UUID) -> Recipient | None:
    query = select(recipients).where(recipients.c.complaint_id == complaint_id, recipients.c.filed)
    row = (await session.execute(query)).first()
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


async def update_recipient(session: AsyncConnection, complaint_id: UUID, **values: Any) -> None:
    await session.execute(
        update(recipients).where(recipients.c.complaint_id == complaint_id).values(**values)
    )


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
) -> dict[str, Any] | None:
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
    return dict(row._mapping) if row else None


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
    statement = (
        insert(messages)
        .values(
            id=uuid4(),
            event_id=event_id,
            client_id=client_id,
            complaint_id=complaint_id,
            kind=kind,
            channel="pending",
            data=data,
            trace_context=current_trace_context(),
            status=AWAITING_RECIPIENT,
            subscription_id=subscription_id,
        )
        .on_conflict_do_nothing()
        .returning(messages.c.id)
    )
    row = (await session.execute(statement)).first()
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


async def awaiting(session: AsyncConnection, complaint_id: UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(messages)
        .where(messages.c.complaint_id == complaint_id, messages.c.status == AWAITING_RECIPIENT)
        .order_by(messages.c.created_at)
        .with_for_update()
    )
    return [dict(row._mapping) for row in rows]


async def set_composed(session: AsyncConnection, message_id: UUID, values: dict[str, Any]) -> None:
    """The recipient is known and the text rendered: `values` sets status, channel, content..."""
    await session.execute(update(messages).where(messages.c.id == message_id).values(**values))


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message the caller now owns until its lease ends, and the number of this attempt."""

    row: dict[str, Any]
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
    claimed = [Claimed(dict(row._mapping), row.attempts) for row in rows]
    if claimed:
        # An earlier attempt still "in flight" belongs to a worker that died mid-send.
        await session.execute(
            update(delivery_attempts)
            .where(
                delivery_attempts.c.message_id.in_([c.row["id"] for c in claimed]),
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
                    "message_id": c.row["id"],
                    "attempt": c.attempt,
                    "transport": transports[c.row["id"]],
                    "outcome": "in_flight",
                }
                for c in claimed
            ],
        )


async def finish_attempt(
    session: AsyncConnection,
    message_id: UUID,
    attempt: int,
    *,
    outcome: str,
    message_values: dict[str, Any],
    detail: str | None = None,
    provider_reference: str | None = None,
) -> None:
    """Close the attempt's log row and move the message on, in the caller's transaction."""
    await session.execute(
        update(delivery_attempts)
        .where(delivery_attempts.c.message_id == message_id, delivery_attempts.c.attempt == attempt)
        .values(outcome=outcome, detail=detail, provider_reference=provider_reference, finished_at=func.now())
    )
    await session.execute(
        update(messages)
        .where(messages.c.id == message_id, messages.c.attempts == attempt)
        .values(lease_until=None, **message_values)
    )


async def email_threads(session: AsyncConnection, rows: list[dict[str, Any]]) -> dict[UUID, list[UUID]]:
    """For each e-mail in `rows`, the ids of its complaint's e-mails written before it, oldest first
    (one query for the whole batch)."""
    threads: dict[UUID, list[UUID]] = {row["id"]: [] for row in rows}
    if not rows:
        return threads
    earlier = await session.execute(
        select(messages.c.id, messages.c.complaint_id, messages.c.created_at)
        .where(
            messages.c.complaint_id.in_({row["complaint_id"] for row in rows}),
            messages.c.channel == "email",
            messages.c.created_at < max(row["created_at"] for row in rows),
            messages.c.status.in_((QUEUED, SENDING, SENT)),
        )
        .order_by(messages.c.created_at)
    )
    by_complaint: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_complaint[row["complaint_id"]].append(row)
    for found in earlier:
        for row in by_complaint[found.complaint_id]:
            if found.created_at < row["created_at"]:
                threads[row["id"]].append(found.id)
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
) -> dict[str, Any] | None:
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
    return dict(row._mapping) if row else None


async def message_by_id(
    session: AsyncConnection, message_id: UUID, client_id: str, confidential: bool = True
) -> dict[str, Any] | None:
    query = select(messages).where(messages.c.id == message_id, *visible(client_id, confidential))
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row else None


async def messages_for(
    session: AsyncConnection, client_id: str, complaint_id: UUID, confidential: bool
) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(messages)
        .where(messages.c.complaint_id == complaint_id, *visible(client_id, confidential))
        .order_by(messages.c.created_at)
    )
    return [dict(row._mapping) for row in rows]


async def messages_for_customer(
    session: AsyncConnection, client_id: str, customer_id: str, confidential: bool, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(messages)
        .where(messages.c.customer_id == customer_id, *visible(client_id, confidential))
        .order_by(messages.c.created_at.desc(), messages.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [dict(row._mapping) for row in rows]


async def attempts_of(session: AsyncConnection, message_ids: list[UUID]) -> dict[UUID, list[dict[str, Any]]]:
    found: dict[UUID, list[dict[str, Any]]] = {message_id: [] for message_id in message_ids}
    if message_ids:
        rows = await session.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.message_id.in_(message_ids))
            .order_by(delivery_attempts.c.message_id, delivery_attempts.c.attempt)
        )
        for row in rows:
            found[row.message_id].append(dict(row._mapping))
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
