"""What notifications does with the events it consumes: record the message each event calls for,
in the inbox transaction, and leave the sending to the delivery loop (see `delivery.py`).

A message is recorded first and composed as soon as its recipient is known: `compensation.granted`
can arrive before `complaint.created` (they travel on different topics). Composing renders the
template in the customer's language and queues the message; a database trigger then wakes the loop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.consumer import Subscription
from complaints_common.events.contracts import ComplaintCreatedV1
from complaints_common.events.envelope import (
    COMPENSATION_DECISION_RECORDED_V1,
    COMPENSATION_GRANTED_V1,
    COMPLAINT_CREATED_V1,
    COMPLAINT_DEADLINES_CHANGED_V1,
    COMPLAINT_ERASURE_REQUESTED_V1,
    COMPLAINT_LETTER_ISSUED_V1,
    COMPLAINT_STATUS_CHANGED_V1,
    FOLLOWUP_DUE_V1,
    FOLLOWUP_OUTCOME_V1,
    Event,
)
from complaints_common.messaging import Outbox
from complaints_common.runtime import Runtime
from complaints_notifications.domain.messages import (
    Channel,
    MessageKind,
    Owner,
    QuietHours,
    Recipient,
    customer_address,
    customer_zone,
    next_contact,
    status_update_kind,
    template_variables,
)
from complaints_notifications.domain.push import (
    FollowupOutcomeData,
    PushType,
    StatusChangedData,
    deadline_push,
    decision_push,
)
from complaints_notifications.pushes import push, push_delivery_failed
from complaints_notifications.rendering import Templates
from complaints_notifications.settings import NotificationSettings
from complaints_notifications.status import status_event
from complaints_notifications.store.messages import (
    FAILED,
    QUEUED,
    awaiting,
    forget_customer,
    lock_complaint,
    queue_message,
    recipient_of,
    record_state,
    save_recipient,
    set_composed,
    update_recipient,
)
from complaints_notifications.store.webhooks import subscribed


class Composer:
    """Turns a recorded message into one ready to send: channel, address, rendered text, due time."""

    def __init__(self, settings: NotificationSettings, templates: Templates, outbox: Outbox) -> None:
        self.settings = settings
        self.templates = templates
        self.outbox = outbox
        self.quiet_hours = QuietHours(settings.sms_quiet_start, settings.sms_quiet_end)
        self.owner = Owner(settings.care_email, settings.care_phone)
        self.progress_after = timedelta(hours=settings.progress_update_after_h)

    async def compose_awaiting(self, session: AsyncConnection, complaint_id: UUID) -> None:
        # After this transaction's write, before its reads: an event racing complaint.created on
        # another topic would otherwise leave its message awaiting a recipient for ever.
        await lock_complaint(session, complaint_id)
        recipient = await recipient_of(session, complaint_id)
        if recipient is None:
            return
        for row in await awaiting(session, complaint_id):
            await self.compose(session, row, recipient)

    async def compose(self, session: AsyncConnection, row: dict[str, Any], recipient: Recipient) -> None:
        kind = MessageKind(row["kind"])
        now = datetime.now(UTC)
        channel, address = self.destination(kind, row, recipient)
        values: dict[str, Any] = {
            "channel": channel.value,
            "recipient": address,
            "customer_id": recipient.customer_id,
            "client_id": recipient.client_id or row["client_id"],
        }
        if channel is Channel.NONE or address is None:
            values |= {"status": FAILED, "last_error": "no address to reach the recipient on"}
            await set_composed(session, row["id"], values)
            await self.outbox.add(session, status_event({**row, **values}, "failed", now))
            await push_delivery_failed(session, {**row, **values}, FAILED, values["last_error"], now)
            return
        next_on = next_contact(recipient.deadlines, now, self.progress_after)
        variables = template_variables(
            kind, recipient, row["data"], self.settings.survey_url, self.owner, next_on
        )
        if channel is Channel.WEBHOOK:
            rendered_body = self.templates.render(kind, channel, "en", variables).text
            body = webhook_body(kind, row, recipient, rendered_body)
            values |= {"body": body, "language": "en"}
        else:
            rendered = self.templates.render(kind, channel, recipient.language, variables)
            values |= {
                "subject": rendered.subject,
                "body": rendered.text,
                "html": rendered.html,
                "language": rendered.locale,
            }
            # The customer heard from us: the progress interval starts again.
            await update_recipient(session, row["complaint_id"], last_told_at=now)
        values |= {"status": QUEUED, "next_attempt_at": self.first_attempt_at(channel, recipient, now)}
        await set_composed(session, row["id"], values)

    def destination(
        self, kind: MessageKind, row: dict[str, Any], recipient: Recipient
    ) -> tuple[Channel, str | None]:
        if kind is MessageKind.CALLBACK_TASK:
            # To the subscription it was recorded for, else the operator-configured client webhook.
            subscription_id = row.get("subscription_id")
            return Channel.WEBHOOK, str(subscription_id) if subscription_id else recipient.client_id
        return customer_address(recipient.contact)

    def first_attempt_at(self, channel: Channel, recipient: Recipient, now: datetime) -> datetime:
        if channel is not Channel.SMS:
            return now
        zone = customer_zone(recipient.contact, self.settings.default_time_zone)
        return self.quiet_hours.next_allowed(now, zone)


def webhook_body(kind: MessageKind, row: dict[str, Any], recipient: Recipient, summary: str) -> str:
    """The JSON a CRM receives (Standard Webhooks' `type`/`timestamp`/`data` shape): ids and the task,
    no contact details: the CRM has them already."""
    data = row["data"]
    payload = {
        "type": f"complaint.{kind.value}",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {
            "message_id": str(row["id"]),
            "complaint_id": str(row["complaint_id"]),
            "reference": recipient.reference,
            "customer_id": recipient.customer_id,
            "followup_id": data.get("followup_id"),
            "followup_kind": data.get("kind"),
            "deadline_name": data.get("deadline_name"),
            "due_at": data.get("due_at"),
            "attempt": data.get("attempt", 1),
            "summary": summary,
        },
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def composer_of(runtime: Runtime) -> Composer:
    """The process's one composer (consumers and the progress loop share it). The templates are
    compiled and rendered against sample data here, as the worker starts: a template error stops
    the start instead of failing a send."""
    if "composer" not in runtime.state:
        settings = runtime.settings
        assert isinstance(settings, NotificationSettings)
        runtime.state["composer"] = Composer(settings, Templates.load(), runtime.outbox)
    composer: Composer = runtime.state["composer"]
    return composer


def subscriptions(runtime: Runtime) -> list[Subscription[Any]]:
    composer = composer_of(runtime)

    async def record(
        session: AsyncConnection,
        event: Event[Any],
        kind: MessageKind,
        subscriptions: Sequence[UUID | None] = (None,),
    ) -> None:
        complaint_id = event.data.complaint_id
        for subscription_id in subscriptions:
            await queue_message(
                session,
                event_id=event.id,
                client_id=event.data.client_id,
                complaint_id=complaint_id,
                kind=kind,
                data=event.data.model_dump(mode="json"),
                subscription_id=subscription_id,
            )
        await composer.compose_awaiting(session, complaint_id)

    async def on_complaint_created(session: AsyncConnection, event: Event[Any]) -> None:
        complaint: ComplaintCreatedV1 = event.data
        await save_recipient(
            session,
            {
                "complaint_id": complaint.complaint_id,
                "customer_id": complaint.customer.customer_id,
                "reference": complaint.reference,
                "contact": complaint.customer.model_dump(mode="json"),
                "confidential": complaint.confidential,
                "client_id": complaint.client_id,
                "deadlines": [d.model_dump(mode="json") for d in complaint.deadlines],
                "last_told_at": datetime.now(UTC),
            },
        )
        await record(session, event, MessageKind.ACKNOWLEDGEMENT)

    async def on_compensation_granted(session: AsyncConnection, event: Event[Any]) -> None:
        await record(session, event, MessageKind.COMPENSATION)

    async def pushed(session: AsyncConnection, event: Event[Any], push_type: PushType, data: Any) -> None:
        await push(
            session,
            event_id=event.id,
            client_id=event.data.client_id,
            complaint_id=event.data.complaint_id,
            push_type=push_type,
            data=data,
        )

    async def on_followup_due(session: AsyncConnection, event: Event[Any]) -> None:
        if event.data.kind == "satisfaction_check":
            await record(session, event, MessageKind.SATISFACTION_SURVEY)
            return
        deadline = deadline_push(event.data.model_dump(mode="json"))
        if deadline is not None:
            await pushed(session, event, *deadline)
        await record_callback_task(session, event)

    async def record_callback_task(session: AsyncConnection, event: Event[Any]) -> None:
        """One per subscription to call-back tasks; without any, one to the operator's fallback."""
        subscriptions = await subscribed(session, event.data.client_id, PushType.CALLBACK_TASK)
        await record(session, event, MessageKind.CALLBACK_TASK, subscriptions or [None])

    async def on_status_changed(session: AsyncConnection, event: Event[Any]) -> None:
        data = event.data.model_dump(mode="json")
        # The compose lock before the recipient's row, the order the progress loop takes them in;
        # the due times before the message is composed: it names the next contact from them.
        await lock_complaint(session, event.data.complaint_id)
        await record_state(
            session,
            event.data.complaint_id,
            event.data.client_id,
            event.data.customer_id,
            data["deadlines"],
            data["to_status"] not in ("resolved", "closed"),
            int(data.get("escalation_level") or 0),
        )
        await pushed(session, event, PushType.STATUS_CHANGED, StatusChangedData.model_validate(data))
        kind = status_update_kind(data)
        if kind is not None:
            await record(session, event, kind)

    async def on_deadlines_changed(session: AsyncConnection, event: Event[Any]) -> None:
        await lock_complaint(session, event.data.complaint_id)
        deadlines = [d.model_dump(mode="json") for d in event.data.deadlines]
        recipient = await recipient_of(session, event.data.complaint_id)
        customer_id = recipient.customer_id if recipient else ""
        await record_state(session, event.data.complaint_id, event.data.client_id, customer_id, deadlines)

    async def on_decision_recorded(session: AsyncConnection, event: Event[Any]) -> None:
        decision = decision_push(event.data.model_dump(mode="json"))
        if decision is not None:
            await pushed(session, event, *decision)

    async def on_followup_outcome(session: AsyncConnection, event: Event[Any]) -> None:
        data = FollowupOutcomeData.model_validate(event.data.model_dump(mode="json"))
        await pushed(session, event, PushType.FOLLOWUP_OUTCOME, data)

    async def on_erasure(session: AsyncConnection, event: Event[Any]) -> None:
        await forget_customer(session, event.data.complaint_id)

    async def on_letter_issued(session: AsyncConnection, event: Event[Any]) -> None:
        await record(session, event, MessageKind(event.data.kind))

    return [
        Subscription(COMPLAINT_CREATED_V1, on_complaint_created),
        Subscription(COMPLAINT_LETTER_ISSUED_V1, on_letter_issued),
        Subscription(COMPLAINT_ERASURE_REQUESTED_V1, on_erasure),
        Subscription(COMPENSATION_GRANTED_V1, on_compensation_granted),
        Subscription(FOLLOWUP_DUE_V1, on_followup_due),
        Subscription(COMPLAINT_STATUS_CHANGED_V1, on_status_changed),
        Subscription(COMPLAINT_DEADLINES_CHANGED_V1, on_deadlines_changed),
        Subscription(COMPENSATION_DECISION_RECORDED_V1, on_decision_recorded),
        Subscription(FOLLOWUP_OUTCOME_V1, on_followup_outcome),
    ]
