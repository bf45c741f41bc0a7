"""Follow-up's tables, all in the `followup` schema."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from complaints_common.db import schema_metadata
from complaints_common.keys import api_keys_table
from complaints_common.messaging import inbox_table, outbox_table

SCHEMA = "followup"
metadata = schema_metadata(SCHEMA)

# What follow-up knows of each complaint, from the events it consumes. Rows may be created by any of
# them (topics are not ordered with each other), so all but the id are nullable.
complaints = Table(
    "complaints",
    metadata,
    Column("complaint_id", UUID(as_uuid=True), primary_key=True),
    # The CRM client (tenant), from whichever of the complaint's events came first.
    Column("client_id", Text),
    Column("customer_id", Text),
    Column("filed_at", DateTime(timezone=True)),
    Column("category", Text),
    Column("agent_id", Text),
    Column("status", Text),
    Column("status_as_of", DateTime(timezone=True)),
    # The offer kind granted: outcomes are broken down by the remedy given.
    Column("remedy", Text),
    Column("decision_pending_since", DateTime(timezone=True)),
    Column("decision_settled_at", DateTime(timezone=True)),
    # The latest set of due times, and when it was computed (a newer set replaces an older one).
    Column("deadlines", JSONB, nullable=False, server_default="[]"),
    Column("deadlines_as_of", DateTime(timezone=True)),
)

followups = Table(
    "followups",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    # The CRM client (tenant): every query filters by it; customer ids are the client's own.
    Column("client_id", Text, nullable=False),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    # What this timer is for within its kind: the deadline's name and due time, a manual request's
    # id; '' for the one satisfaction check of a complaint.
    Column("reason_key", Text, nullable=False, server_default=""),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("fired_at", DateTime(timezone=True)),
    Column("deadline_name", Text),
    Column("team", Text),
    Column("agent_id", Text),
    Column("cancel_reason", Text),
    # The agent's note for a manual follow-up and the customer's comment: personal data, stored for
    # the agent, never logged, never published.
    Column("note", Text),
    Column("outcome", Text),
    Column("reached", Boolean),
    Column("satisfied", Boolean),
    Column("csat", Integer),
    Column("nps", Integer),
    Column("comment", Text),
    Column("recorded_by", Text),
    Column("recorded_at", DateTime(timezone=True)),
    Column("category", Text),
    Column("remedy", Text),
    # The trace context that scheduled the timer, so firing it days later continues the same trace.
    Column("trace_context", JSONB, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # One timer per complaint, kind, reason and attempt: a redelivered event cannot schedule a second.
    UniqueConstraint("complaint_id", "kind", "reason_key", "attempt"),
    CheckConstraint("csat BETWEEN 1 AND 5", name="csat_range"),
    CheckConstraint("nps BETWEEN 0 AND 10", name="nps_range"),
    # The timer loop's query: scheduled timers in due order.
    Index("ix_followups_due", "due_at", postgresql_where=text("status = 'scheduled'")),
    # Worklists: a client's fired follow-ups waiting for an agent, oldest first.
    Index(
        "ix_followups_client_worklist", "client_id", "due_at", "id", postgresql_where=text("status = 'fired'")
    ),
    # Survey governance: a customer's recent satisfaction checks (a customer id is per client).
    Index(
        "ix_followups_client_customer_surveys",
        "client_id",
        "customer_id",
        "fired_at",
        postgresql_where=text("kind = 'satisfaction_check'"),
    ),
    Index("ix_followups_complaint_id", "complaint_id"),
    Index("ix_followups_recorded_at", "recorded_at", postgresql_where=text("outcome IS NOT NULL")),
)

api_keys = api_keys_table(metadata)
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
