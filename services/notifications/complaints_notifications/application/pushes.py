"""Pushing to the CRM's webhook subscriptions: one queued message per subscription that chose the
push type, written in the transaction of whatever caused it (an event's inbox transaction, a failed
delivery's outcome, a test request), and sent by the delivery loop like every other message:
signed, retried with backoff, dead-lettered, replayable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import EventData
from complaints_common.events.envelope import Event
from complaints_notifications.domain.messages import MessageKind
from complaints_notifications.domain.push import (
    TEST_PUSH,
    DeliveryFailedData,
    PushType,
    TestData,
    push_body,
)
from complaints_notifications.store.messages import MessageRecord, queue_push
from complaints_notifications.store.recording import Push, record

DataT = TypeVar("DataT", bound=EventData)


def push_of(event_id: str, push_type: str, data: BaseModel) -> Push:
    """The push of `data` as `push_type`, once per `event_id` (its key, whatever the redelivery)."""
    now = datetime.now(UTC)
    return Push(event_id, push_type, push_body(push_type, data, now), now)


async def push(
    session: AsyncConnection,
    *,
    event_id: str,
    client_id: str | None,
    complaint_id: UUID | None,
    push_type: PushType,
    data: BaseModel,
) -> None:
    """Queue the push for each of the client's subscriptions to `push_type`, in one statement
    with the lookup of those subscriptions: a subscription made or deleted through the API counts
    from the next push on, whichever replica serves it."""
    await record(
        session,
        event_id=event_id,
        client_id=client_id,
        complaint_id=complaint_id,
        push=push_of(event_id, push_type, data),
    )


async def push_event(
    session: AsyncConnection,
    event: Event[DataT],
    push_type: PushType,
    data: BaseModel,
    key: str | None = None,
) -> None:
    """Push what the event says about a complaint, once per event (its id keys the push, unless
    `key` says what else it is once per)."""
    await push(
        session,
        event_id=key or event.id,
        client_id=event.data.client_id,
        complaint_id=event.data.complaint_id,
        push_type=push_type,
        data=data,
    )


async def push_test(session: AsyncConnection, client_id: str, subscription_id: UUID) -> UUID:
    message_id = uuid4()
    now = datetime.now(UTC)
    data = TestData(subscription_id=subscription_id, message="A test delivery from the complaint platform.")
    await queue_push(
        session,
        message_id=message_id,
        event_id=f"test:{message_id}",
        client_id=client_id,
        complaint_id=None,
        kind=TEST_PUSH,
        subscription_id=subscription_id,
        body=push_body(TEST_PUSH, data, now),
        now=now,
    )
    return message_id


# The messages whose fate is reported (notification.status, and a delivery-failed push): those to
# the customer and the call-back tasks; a push's is not, so a failing endpoint feeds itself nothing.
REPORTED = frozenset(MessageKind)


def reported(kind: str) -> bool:
    return kind in REPORTED


async def push_delivery_failed(
    session: AsyncConnection, message: MessageRecord, status: str, error: str | None, at: datetime
) -> None:
    """A message to the customer (or a call-back task) that will not be delivered, pushed."""
    if not reported(message.kind) or message.complaint_id is None:
        return
    data = DeliveryFailedData.model_validate(
        {
            "complaint_id": message.complaint_id,
            "message_id": message.id,
            "kind": message.kind,
            "channel": message.channel,
            "status": status,
            "attempts": max(1, message.attempts),
            "error": error,
            "at": at,
        }
    )
    await push(
        session,
        # Once per message and failure: a replayed message that fails again is pushed again.
        event_id=f"delivery:{message.id}:{message.attempts}",
        client_id=message.client_id,
        complaint_id=message.complaint_id,
        push_type=PushType.DELIVERY_FAILED,
        data=data,
    )
