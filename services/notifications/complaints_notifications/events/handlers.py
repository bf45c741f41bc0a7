"""What notifications does with the events it consumes: one message per event, told to the customer.

A message is queued first and sent as soon as its recipient is known: `compensation.granted` can
arrive before `complaint.created` (they travel on different topics).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from complaints_common.consumer import Subscription
from complaints_common.events.contracts import ComplaintCreatedV1
from complaints_common.events.envelope import (
    COMPENSATION_GRANTED_V1,
    COMPLAINT_CREATED_V1,
    FOLLOWUP_DUE_V1,
    Event,
)
from complaints_common.runtime import Runtime
from complaints_notifications.domain.messages import MessageKind, Recipient, compose, contact_address
from complaints_notifications.store.messages import (
    awaiting,
    mark_sent,
    queue_message,
    recipient_of,
    save_recipient,
)

log = logging.getLogger(__name__)


async def deliver_awaiting(session: AsyncSession, complaint_id: UUID) -> None:
    """Compose and send every queued message of a complaint whose recipient is now known."""
    stored = await recipient_of(session, complaint_id)
    if stored is None:
        return
    channel, address = contact_address(stored["contact"])
    recipient = Recipient(
        name=stored["contact"].get("name"),
        address=address,
        channel=channel,
        language=stored["contact"].get("language", "en"),
        reference=stored["reference"],
        confidential=stored["confidential"],
    )
    for row in await awaiting(session, complaint_id):
        message = compose(MessageKind(row["kind"]), recipient, row["data"])
        # The log channel: real channels arrive with the notifications issue. Log ids, never content.
        values = {
            "channel": channel,
            "recipient": address,
            "language": recipient.language,
            "subject": message.subject,
            "body": message.body,
        }
        await mark_sent(session, row["id"], values, datetime.now(UTC))
        log.info(
            "message sent", extra={"message_id": str(row["id"]), "kind": row["kind"], "channel": channel}
        )


def subscriptions(_runtime: Runtime) -> list[Subscription]:
    async def on_complaint_created(session: AsyncSession, event: Event[Any]) -> None:
        complaint: ComplaintCreatedV1 = event.data
        await save_recipient(
            session,
            {
                "complaint_id": complaint.complaint_id,
                "customer_id": complaint.customer.customer_id,
                "reference": complaint.reference,
                "contact": complaint.customer.model_dump(mode="json"),
                "confidential": complaint.confidential,
            },
        )
        await _queue_and_deliver(session, event, MessageKind.ACKNOWLEDGEMENT)

    async def on_compensation_granted(session: AsyncSession, event: Event[Any]) -> None:
        await _queue_and_deliver(session, event, MessageKind.COMPENSATION)

    async def on_followup_due(session: AsyncSession, event: Event[Any]) -> None:
        if event.data.kind == "satisfaction_check":
            await _queue_and_deliver(session, event, MessageKind.SATISFACTION_SURVEY)

    return [
        Subscription(COMPLAINT_CREATED_V1, on_complaint_created),
        Subscription(COMPENSATION_GRANTED_V1, on_compensation_granted),
        Subscription(FOLLOWUP_DUE_V1, on_followup_due),
    ]


async def _queue_and_deliver(session: AsyncSession, event: Event[Any], kind: MessageKind) -> None:
    complaint_id = event.data.complaint_id
    await queue_message(
        session,
        event_id=event.id,
        complaint_id=complaint_id,
        kind=kind,
        data=event.data.model_dump(mode="json"),
    )
    await deliver_awaiting(session, complaint_id)
