"""What was said to whom: the messages read back with their delivery log, and the operator's
replay of one that failed (it keeps its id, so its idempotency key)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.api import Principal
from complaints_common.problems import Conflict, NotFound, or_not_found
from complaints_notifications.dependencies import NotificationsDependencies
from complaints_notifications.store import messages as store
from complaints_notifications.store.messages import AttemptRecord, MessageRecord

NO_MESSAGE = "No message has this id."


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message with every attempt to deliver it."""

    message: MessageRecord
    log: list[AttemptRecord]


async def complaint_messages(
    deps: NotificationsDependencies, principal: Principal, complaint_id: UUID
) -> list[MessageRecord]:
    """The complaint's messages, oldest first; 404 alike for a complaint not known and another client's."""
    async with deps.runtime.db.transaction() as session:
        return await _of_complaint(session, principal, complaint_id)


async def complaint_deliveries(
    deps: NotificationsDependencies, principal: Principal, complaint_id: UUID
) -> list[Delivery]:
    async with deps.runtime.db.transaction() as session:
        return await _with_log(session, await _of_complaint(session, principal, complaint_id))


async def customer_deliveries(
    deps: NotificationsDependencies, principal: Principal, customer_id: str, limit: int, offset: int
) -> list[Delivery]:
    """The customer's messages across the client's complaints, newest first."""
    async with deps.runtime.db.transaction() as session:
        found = await store.messages_for_customer(
            session, principal.client, customer_id, principal.sees_confidential, limit, offset
        )
        return await _with_log(session, found)


async def delivery(deps: NotificationsDependencies, principal: Principal, message_id: UUID) -> Delivery:
    async with deps.runtime.db.transaction() as session:
        found = or_not_found(
            await store.message_by_id(session, message_id, principal.client, principal.sees_confidential),
            NO_MESSAGE,
        )
        return (await _with_log(session, [found]))[0]


async def replay_message(
    deps: NotificationsDependencies, principal: Principal, message_id: UUID
) -> MessageRecord:
    """Queue a failed or dead-lettered message of the caller's client again, with a fresh retry budget."""
    async with deps.runtime.db.transaction() as session:
        replayed = await store.replay(session, principal.client, message_id, datetime.now(UTC))
        current = None if replayed else await store.message_by_id(session, message_id, principal.client)
    if replayed is not None:
        return replayed
    if current is None:
        raise NotFound(NO_MESSAGE)
    allowed = " or ".join(store.REPLAYABLE)
    raise Conflict(f"Only a message that is {allowed} can be replayed; this one is {current.status}.")


async def _of_complaint(
    session: AsyncConnection, principal: Principal, complaint_id: UUID
) -> list[MessageRecord]:
    found = await store.messages_for(session, principal.client, complaint_id, principal.sees_confidential)
    if not found:
        raise NotFound("No messages for this complaint.")
    return found


async def _with_log(session: AsyncConnection, found: list[MessageRecord]) -> list[Delivery]:
    log = await store.attempts_of(session, [message.id for message in found])
    return [Delivery(message, log[message.id]) for message in found]
