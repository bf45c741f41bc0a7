"""Notifications' tables, all in the `notifications` schema.

`messages` is both what was said and the delivery queue: one row per (event, kind), so one per
(event, channel, recipient), worked by the delivery loop. `delivery_attempts` is the log of every
try at sending one, written before the provider is called and completed after.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from complaints_common.db import schema_metadata
from complaints_common.keys import api_keys_table
from complaints_common.messaging import inbox_table, outbox_table

SCHEMA = "notifications"
DELIVERY_CHANNEL = "notifications_deliveries"
# The advisory-lock space of delivery workers' liveness locks ("NOTI").
WORKER_LOCK_SPACE = 0x4E4F5449
# The advisory-lock space that serialises composing one complaint's messages ("NOTC").
COMPOSE_LOCK_SPACE = 0x4E4F5443
metadata = schema_metadata(SCHEMA)

recipients = Table(
    "recipients",
    metadata,
    Column("complaint_id", UUID(as_uuid=True), primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("reference", Text, nullable=False),
    # Contact details are personal data: kept here, never logged.
    Column("contact", JSONB, nullable=False),
    Column("confidential", Boolean, nullable=False),
    # The CRM client that filed the complaint: where its webhooks go.
    Column("client_id", Text),
    # The complaint's due times as intake last published them (the next-contact date every message
    # names), whether it is still open, and when the customer was last told anything: a complaint
    # open and silent for longer than the progress interval gets a progress update.
    Column("deadlines", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("open", Boolean, nullable=False, server_default=text("true")),
    Column("last_told_at", DateTime(timezone=True)),
    Column("progress_updates", Integer, nullable=False, server_default="0"),
    # Escalated (or moved to a supervisor for abusive conduct): every later message names a supervisor.
    Column("escalation_level", Integer, nullable=False, server_default="0"),
    # False while only a later event's state is known (it overtook complaint.created on its topic):
    # no message is composed for the complaint until it is filed.
    Column("filed", Boolean, nullable=False, server_default=text("true")),
    Index("ix_recipients_open_last_told", "last_told_at", postgresql_where=text("open")),
)

messages = Table(
    "messages",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("event_id", Text, nullable=False),
    # The CRM client (tenant): from the event, else from the recipient when it is composed. The API
    # shows a client its own messages only.
    Column("client_id", Text),
    # None only for a webhook subscription's test delivery, which is about no complaint.
    Column("complaint_id", UUID(as_uuid=True)),
    Column("customer_id", Text),
    # A message kind (to the customer, or the CRM's call-back task), or a push type (domain/push.py).
    Column("kind", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("recipient", Text),
    Column("language", Text),
    Column("subject", Text),
    Column("body", Text),
    Column("html", Text),
    # The event's data, kept until the message can be composed (the recipient may arrive later).
    Column("data", JSONB, nullable=False),
    # The trace context of the event that asked for the message: sending it, even after retries,
    # continues the complaint's trace, so notification.status stays in it.
    Column("trace_context", JSONB, nullable=False, server_default="{}"),
    # awaiting_recipient -> queued -> sending -> sent | queued (retry) | failed | dead_lettered
    Column("status", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Failures since the message was queued or last replayed: what the retry limit counts.
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("lease_until", DateTime(timezone=True)),
    # The worker sending it: while alive it holds an advisory lock on this id (see application/delivery.py).
    Column("claimed_by", Text),
    Column("last_error", Text),
    Column("provider_reference", Text),
    # The webhook subscription a push goes to; None for a message to the customer, and for a
    # call-back task to the operator-configured webhook (settings `webhooks`).
    Column("subscription_id", UUID(as_uuid=True)),
    # One message per event, kind and subscription, whatever the redelivery.
    UniqueConstraint("event_id", "kind", "subscription_id", postgresql_nulls_not_distinct=True),
    Index("ix_messages_complaint", "complaint_id", "created_at"),
    Index("ix_messages_client_customer", "client_id", "customer_id", "created_at"),
    Index(
        "ix_messages_due",
        "next_attempt_at",
        postgresql_where=text("status IN ('queued', 'sending')"),
    ),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("message_id", UUID(as_uuid=True), ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("transport", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    # in_flight (or interrupted, if the worker died), sent, retry, failed, dead_lettered
    Column("outcome", Text, nullable=False),
    Column("detail", Text),
    Column("provider_reference", Text),
    UniqueConstraint("message_id", "attempt"),
)

# A CRM client's webhook: where to push which event types. Managed through /v1/webhooks.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("event_types", ARRAY(Text), nullable=False),
    Column("description", Text),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_webhook_subscriptions_client", "client_id", "created_at"),
)

# A subscription's signing secrets: every one not expired signs (a rotation's overlap). Kept
# encrypted (Fernet, keys from the settings): the database alone does not give them away.
webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column(
        "subscription_id",
        UUID(as_uuid=True),
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("encrypted", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True)),
    Index("ix_webhook_secrets_subscription", "subscription_id"),
)

api_keys = api_keys_table(metadata)
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
