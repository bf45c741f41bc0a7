"""What each event about a complaint makes notifications do, in the event's inbox transaction:
record the message it calls for (composed as soon as the recipient is known, see `composing.py`),
keep the complaint's state the messages name, and push what the CRM subscribed to.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import (
    ComplaintCreatedV1,
    ComplaintDeadlinesChangedV1,
    ComplaintStatusChangedV1,
    FollowupDueV1,
)
from complaints_common.events.envelope import Event
from complaints_notifications.application.composing import Composer
from complaints_notifications.application.pushes import DataT, push_event
from complaints_notifications.domain.messages import MessageKind, status_update_kind
from complaints_notifications.domain.push import PushType, StatusChangedData, deadline_push
from complaints_notifications.store import messages as store
from complaints_notifications.store.webhooks import subscribed


async def record_messages(
    session: AsyncConnection,
    composer: Composer,
    event: Event[DataT],
    kind: MessageKind,
    subscriptions: Sequence[UUID | None] = (None,),
) -> None:
    """Record that `kind` must be said for the event (once per subscription, for a call-back task
    pushed to several), then compose whatever of the complaint's messages can be composed now."""
    complaint_id = event.data.complaint_id
    for subscription_id in subscriptions:
        await store.queue_message(
            session,
            event_id=event.id,
            client_id=event.data.client_id,
            complaint_id=complaint_id,
            kind=kind,
            data=event.data.model_dump(mode="json"),
            subscription_id=subscription_id,
        )
    await composer.compose_awaiting(session, complaint_id)


async def acknowledge(session: AsyncConnection, composer: Composer, event: Event[ComplaintCreatedV1]) -> None:
    """A complaint was filed: its recipient is known, and the acknowledgement (and whatever waited
    for the recipient) can be said."""
    complaint = event.data
    await store.save_recipient(
        session,
        complaint_id=complaint.complaint_id,
        customer_id=complaint.customer.customer_id,
        reference=complaint.reference,
        contact=complaint.customer.model_dump(mode="json"),
        confidential=complaint.confidential,
        client_id=complaint.client_id,
        deadlines=[d.model_dump(mode="json") for d in complaint.deadlines],
        last_told_at=datetime.now(UTC),
    )
    await record_messages(session, composer, event, MessageKind.ACKNOWLEDGEMENT)


async def tell_status_change(
    session: AsyncConnection, composer: Composer, event: Event[ComplaintStatusChangedV1]
) -> None:
    """Keep the complaint's state, push the change, and tell the customer when the change is news
    to them (resolved, reopened, escalated)."""
    data = event.data.model_dump(mode="json")
    # The compose lock before the recipient's row, the order the progress loop takes them in;
    # the due times before the message is composed: it names the next contact from them.
    await store.lock_complaint(session, event.data.complaint_id)
    await store.record_state(
        session,
        event.data.complaint_id,
        event.data.client_id,
        event.data.customer_id,
        data["deadlines"],
        data["to_status"] not in ("resolved", "closed"),
        int(data.get("escalation_level") or 0),
    )
    await push_event(session, event, PushType.STATUS_CHANGED, StatusChangedData.model_validate(data))
    kind = status_update_kind(data)
    if kind is not None:
        await record_messages(session, composer, event, kind)


async def keep_deadlines(session: AsyncConnection, event: Event[ComplaintDeadlinesChangedV1]) -> None:
    """The complaint's due times moved: every later message names the next contact from them."""
    await store.lock_complaint(session, event.data.complaint_id)
    deadlines = [d.model_dump(mode="json") for d in event.data.deadlines]
    recipient = await store.recipient_of(session, event.data.complaint_id)
    customer_id = recipient.customer_id if recipient else ""
    await store.record_state(session, event.data.complaint_id, event.data.client_id, customer_id, deadlines)


async def follow_up(session: AsyncConnection, composer: Composer, event: Event[FollowupDueV1]) -> None:
    """A follow-up fell due: the satisfaction survey to the customer, or for a deadline its push and
    a call-back task to the CRM (one per subscription to tasks, else one to the operator's webhook)."""
    if event.data.kind == "satisfaction_check":
        await record_messages(session, composer, event, MessageKind.SATISFACTION_SURVEY)
        return
    deadline = deadline_push(event.data.model_dump(mode="json"))
    if deadline is not None:
        await push_event(session, event, *deadline)
    subscriptions = await subscribed(session, event.data.client_id, PushType.CALLBACK_TASK)
    await record_messages(session, composer, event, MessageKind.CALLBACK_TASK, subscriptions or [None])
