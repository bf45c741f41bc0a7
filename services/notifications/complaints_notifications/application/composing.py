"""Composing: turning a recorded message into one ready to send, as soon as its recipient is known.

A message is recorded first and composed as soon as its recipient is known: `compensation.granted`
can arrive before `complaint.created` (they travel on different topics). Composing renders the
template in the customer's language and queues the message; a database trigger then wakes the
delivery loop (see `application/delivery.py`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.messaging import Outbox
from complaints_notifications.application.pushes import push_delivery_failed
from complaints_notifications.domain.messages import (
    Channel,
    MessageKind,
    Owner,
    QuietHours,
    Recipient,
    customer_address,
    customer_zone,
    next_contact,
    template_variables,
)
from complaints_notifications.domain.rendering import Templates
from complaints_notifications.events.status import status_event
from complaints_notifications.settings import NotificationSettings
from complaints_notifications.store.messages import FAILED, QUEUED, Composed, MessageRecord
from complaints_notifications.store.recording import awaiting, set_composed

UNREACHABLE = "no address to reach the recipient on"


class Composer:
    """Turns a recorded message into one ready to send: channel, address, rendered text, due time.

    Built once per process (`NotificationsDependencies.build`) from templates already compiled and
    rendered against sample data, so a template error stops the start instead of failing a send."""

    def __init__(self, settings: NotificationSettings, templates: Templates, outbox: Outbox) -> None:
        self.settings = settings
        self.templates = templates
        self.outbox = outbox
        self.quiet_hours = QuietHours(settings.sms_quiet_start, settings.sms_quiet_end)
        self.owner = Owner(settings.care_email, settings.care_phone)
        self.progress_after = timedelta(hours=settings.progress_update_after_h)

    async def compose_awaiting(self, session: AsyncConnection, complaint_id: UUID) -> None:
        """Compose the complaint's messages awaiting their recipient, if it is known: one read and
        one write for all of them. The caller took the compose lock in an earlier statement of its
        transaction (after this transaction's write, before these reads): an event racing
        complaint.created on another topic would otherwise leave its message awaiting a recipient
        for ever."""
        recipient, found = await awaiting(session, complaint_id)
        if recipient is None or not found:
            return
        now = datetime.now(UTC)
        composed = [(message, self.compose(message, recipient, now)) for message in found]
        # The customer heard from us: the progress interval starts again.
        told = any(to.status == QUEUED and to.channel != Channel.WEBHOOK for _, to in composed)
        await set_composed(session, complaint_id, [(m.id, to) for m, to in composed], now if told else None)
        for message, to in composed:
            if to.status == FAILED:
                failed = replace(message, **asdict(to))
                await self.outbox.add(session, status_event(failed, "failed", now))
                await push_delivery_failed(session, failed, FAILED, UNREACHABLE, now)

    def compose(self, message: MessageRecord, recipient: Recipient, now: datetime) -> Composed:
        """What the message becomes now its recipient is known: rendered and queued, or failed
        when there is no address to reach the recipient on."""
        kind = MessageKind(message.kind)
        channel, address = self.destination(kind, message, recipient)
        client_id = recipient.client_id or message.client_id
        to = Composed(channel.value, address, recipient.customer_id, client_id, FAILED)
        if channel is Channel.NONE or address is None:
            return replace(to, last_error=UNREACHABLE)
        next_on = next_contact(recipient.deadlines, now, self.progress_after)
        variables = template_variables(
            kind, recipient, message.data, self.settings.survey_url, self.owner, next_on
        )
        queued = replace(to, status=QUEUED, next_attempt_at=self.first_attempt_at(channel, recipient, now))
        if channel is Channel.WEBHOOK:
            summary = self.templates.render(kind, channel, "en", variables).text
            body = webhook_body(kind, message, recipient, summary)
            return replace(queued, body=body, language="en")
        rendered = self.templates.render(kind, channel, recipient.language, variables)
        return replace(
            queued, subject=rendered.subject, body=rendered.text, html=rendered.html, language=rendered.locale
        )

    def destination(
        self, kind: MessageKind, message: MessageRecord, recipient: Recipient
    ) -> tuple[Channel, str | None]:
        if kind is MessageKind.CALLBACK_TASK:
            # To the subscription it was recorded for, else the operator-configured client webhook.
            subscription_id = message.subscription_id
            return Channel.WEBHOOK, str(subscription_id) if subscription_id else recipient.client_id
        return customer_address(recipient.contact)

    def first_attempt_at(self, channel: Channel, recipient: Recipient, now: datetime) -> datetime:
        if channel is not Channel.SMS:
            return now
        zone = customer_zone(recipient.contact, self.settings.default_time_zone)
        return self.quiet_hours.next_allowed(now, zone)


def webhook_body(kind: MessageKind, message: MessageRecord, recipient: Recipient, summary: str) -> str:
    """The JSON a CRM receives (Standard Webhooks' `type`/`timestamp`/`data` shape): ids and the task,
    no contact details: the CRM has them already."""
    data = message.data
    payload = {
        "type": f"complaint.{kind.value}",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {
            "message_id": str(message.id),
            "complaint_id": str(message.complaint_id),
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
