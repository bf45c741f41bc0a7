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
from complaints_notifications.application.pushes import DataT, push_of
from complaints_notifications.domain.messages import MessageKind, status_update_kind
from complaints_notifications.domain.push import PushType, StatusChangedData, deadline_push
from complaints_notifications.store.recording import Asked, Filed, Push, State, record
from complaints_notifications.store.sql import json_text
from complaints_notifications.store.webhooks import subscribed


async def record_messages(
    session: AsyncConnection,
    composer: Composer,
    event: Event[DataT],
    kind: MessageKind,
    subscriptions: Sequence[UUID | None] = (None,),
    push: Push | None = None,
) -> None:
    """Record that `kind` must be said for the event (once per subscription, for a call-back task
    pushed to several) with the push it calls for, then compose whatever of the complaint's
    messages can be composed now."""
    await record_event(
        session, event, asked=Asked(kind, event.data.model_dump_json(), subscriptions), push=push
    )
    await composer.compose_awaiting(session, event.data.complaint_id)


async def record_event(
    session: AsyncConnection,
    event: Event[DataT],
    *,
    filed: Filed | None = None,
    state: State | None = None,
    asked: Asked | None = None,
    push: Push | None = None,
) -> None:
    """Write what the event brings about its complaint in one statement (`store/recording.py`)."""
    data = event.data
    await record(
        session,
        event_id=event.id,
        client_id=data.client_id,
        complaint_id=data.complaint_id,
        filed=filed,
        state=state,
        asked=asked,
        push=push,
    )


async def acknowledge(session: AsyncConnection, composer: Composer, event: Event[ComplaintCreatedV1]) -> None:
    """A complaint was filed: its recipient is known, and the acknowledgement (and whatever waited
    for the recipient) can be said."""
    complaint = event.data
    filed = Filed(
        customer_id=complaint.customer.customer_id,
        reference=complaint.reference,
        contact_json=complaint.customer.model_dump_json(),
        confidential=complaint.confidential,
        deadlines_json=json_text([d.model_dump(mode="json") for d in complaint.deadlines]),
        told_at=datetime.now(UTC),
    )
    await record_event(
        session, event, filed=filed, asked=Asked(MessageKind.ACKNOWLEDGEMENT, complaint.model_dump_json())
    )
    await composer.compose_awaiting(session, complaint.complaint_id)


async def tell_status_change(
    session: AsyncConnection, composer: Composer, event: Event[ComplaintStatusChangedV1]
) -> None:
    """Keep the complaint's state, push the change, and tell the customer when the change is news
    to them (resolved, reopened, escalated): one statement, and two more to compose a message. The
    due times are kept before the message is composed: it names the next contact from them."""
    data = event.data.model_dump(mode="json")
    state = State(
        customer_id=event.data.customer_id,
        deadlines_json=json_text(data["deadlines"]),
        open=data["to_status"] not in ("resolved", "closed"),
        escalation_level=int(data.get("escalation_level") or 0),
    )
    kind = status_update_kind(data)
    await record_event(
        session,
        event,
        state=state,
        asked=None if kind is None else Asked(kind, json_text(data)),
        push=push_of(event.id, PushType.STATUS_CHANGED, StatusChangedData.model_validate(data)),
    )
    if kind is not None:
        await composer.compose_awaiting(session, event.data.complaint_id)


async def keep_deadlines(session: AsyncConnection, event: Event[ComplaintDeadlinesChangedV1]) -> None:
    """The complaint's due times moved: every later message names the next contact from them (kept
    on a placeholder, with no customer id yet, until complaint.created arrives)."""
    deadlines = json_text([d.model_dump(mode="json") for d in event.data.deadlines])
    await record_event(session, event, state=State(customer_id="", deadlines_json=deadlines))


async def follow_up(session: AsyncConnection, composer: Composer, event: Event[FollowupDueV1]) -> None:
    """A follow-up fell due: the satisfaction survey to the customer, or for a deadline its push and
    a call-back task to the CRM (one per subscription to tasks, else one to the operator's webhook)."""
    if event.data.kind == "satisfaction_check":
        await record_messages(session, composer, event, MessageKind.SATISFACTION_SURVEY)
        return
    deadline = deadline_push(event.data.model_dump(mode="json"))
    push = push_of(event.id, *deadline) if deadline is not None else None
    subscriptions = await subscribed(session, event.data.client_id, PushType.CALLBACK_TASK)
    await record_messages(session, composer, event, MessageKind.CALLBACK_TASK, subscriptions or [None], push)
