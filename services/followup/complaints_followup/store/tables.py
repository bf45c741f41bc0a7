"""Follow-up's tables, all in the `followup` schema."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, Table, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from complaints_common.db import schema_metadata
from complaints_common.messaging import inbox_table, outbox_table

SCHEMA = "followup"
metadata = schema_metadata(SCHEMA)

complaints = Table(
    "complaints",
    metadata,
    Column("complaint_id", UUID(as_uuid=True), primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("filed_at", DateTime(timezone=True), nullable=False),
)

followups = Table(
    "followups",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("fired_at", DateTime(timezone=True)),
    # The trace context that scheduled the timer, so firing it days later continues the same trace.
    Column("trace_context", JSONB, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # One timer per complaint, kind and attempt: a redelivered event cannot schedule a second.
    UniqueConstraint("complaint_id", "kind", "attempt"),
    # The timer loop's only query: scheduled timers in due order.
    Index("ix_followups_due", "due_at", postgresql_where=text("status = 'scheduled'")),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
