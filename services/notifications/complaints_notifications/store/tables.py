"""Notifications' tables, all in the `notifications` schema."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Table, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from complaints_common.db import schema_metadata
from complaints_common.messaging import inbox_table, outbox_table

SCHEMA = "notifications"
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
)

messages = Table(
    "messages",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("recipient", Text),
    Column("language", Text),
    Column("subject", Text),
    Column("body", Text),
    # The event's data, kept until the message can be composed (the recipient may arrive later).
    Column("data", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    # One message per event and kind, whatever the redelivery.
    UniqueConstraint("event_id", "kind"),
    Index("ix_messages_complaint", "complaint_id", "created_at"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
