"""Intake's tables, all in the `intake` schema."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    Numeric,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from complaints_common.db import schema_metadata
from complaints_common.keys import api_keys_table
from complaints_common.messaging import inbox_table, outbox_table

SCHEMA = "intake"
metadata = schema_metadata(SCHEMA)

complaints = Table(
    "complaints",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("reference", Text, nullable=False, unique=True),
    Column("client_id", Text, nullable=False),
    Column("crm_reference", Text),
    Column("customer_id", Text, nullable=False),
    # Contact details are personal data: kept here, in one column, never logged.
    Column("customer", JSONB, nullable=False),
    Column("channel", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("product", Text),
    Column("severity", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("amount", Numeric(14, 2)),
    Column("currency", Text),
    Column("occurred_at", DateTime(timezone=True)),
    Column("filed_at", DateTime(timezone=True), nullable=False),
    Column("agent_id", Text),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("confidential", Boolean, nullable=False, server_default="false"),
    Column("status", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The lifecycle (domain/lifecycle.py) and its milestones.
    Column("escalation_level", Integer, nullable=False, server_default="0"),
    Column("waiting_on_customer", Boolean, nullable=False, server_default="false"),
    Column("reopen_count", Integer, nullable=False, server_default="0"),
    Column("root_cause", Text),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    # Abusive conduct towards staff, flagged by an agent (separate from compensation abuse): when
    # and by whom. The flag moved the complaint to a supervisor (an escalation).
    Column("abusive_conduct_at", DateTime(timezone=True)),
    Column("abusive_conduct_by", Text),
    # What the other services said back (compensation, follow-up, notifications): the journey.
    Column("journey", JSONB, nullable=False, server_default="{}"),
    # Due times and the profile they were computed from (domain/deadlines.py), the business-day
    # calendar they count on, and why the complaint got each.
    Column("deadline_profile", Text),
    Column("deadline_profile_reason", Text),
    Column("calendar", Text),
    Column("calendar_reason", Text),
    Column("deadlines", JSONB, nullable=False, server_default="[]"),
    # The earliest due time still running (none while paused or when all are met): overdue lists.
    Column("next_due_at", DateTime(timezone=True)),
    # Repeat and duplicate detection: the earlier complaint this one repeats, and how.
    Column("repeat_of", UUID(as_uuid=True)),
    Column("repeat_kind", Text),
    # The final response's outcome and the redress it offered (the complaints return counts them).
    Column("outcome", Text),
    Column("redress_amount", Numeric(14, 2)),
    Column("redress_currency", Text),
    UniqueConstraint("client_id", "crm_reference"),
    Index("ix_complaints_customer", "customer_id", "filed_at"),
    # Keyset pagination walks (filed_at, id) per client.
    Index("ix_complaints_client_filed", "client_id", "filed_at", "id"),
    Index("ix_complaints_next_due", "client_id", "next_due_at"),
)

# Every change of a complaint: who, when, from, to, why. Never updated, never deleted.
complaint_history = Table(
    "complaint_history",
    metadata,
    Column("seq", BigInteger, Identity(always=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("from_status", Text),
    Column("to_status", Text),
    Column("escalation_level", Integer, nullable=False, server_default="0"),
    Column("reason", Text),
    Column("note", Text),
    Index("ix_complaint_history_complaint", "complaint_id", "seq"),
)

# Each client's choice of deadline profile and calendar: tenant-wide (category '') and per category
# (case-folded). Missing rows fall back to the platform's default.
deadline_settings = Table(
    "deadline_settings",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("category", Text, primary_key=True),
    Column("profile", Text),
    Column("calendar", Text),
    Column("updated_by", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Every regulatory letter sent to a customer, as sent: the audit of what the regulator required.
letters = Table(
    "letters",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("regime", Text),
    Column("language", Text, nullable=False),
    Column("outcome", Text),
    Column("redress_amount", Numeric(14, 2)),
    Column("redress_currency", Text),
    Column("explanation", Text),
    Column("required_content", JSONB, nullable=False, server_default="[]"),
    Column("respond_by", DateTime(timezone=True)),
    Column("issued_by", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Index("ix_letters_complaint", "complaint_id", "issued_at"),
)

# Compensation granted, as compensation.granted told us (goodwill in the complaints return).
granted_compensation = Table(
    "granted_compensation",
    metadata,
    Column("decision_id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("amount", Numeric(14, 2), nullable=False),
    Column("currency", Text, nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Index("ix_granted_compensation_complaint", "complaint_id"),
)

# Erasure requests, audited: who asked, when, for which customer and which complaints. The
# pseudonymising itself happens in every service as each consumes complaint.erasure_requested.
erasures = Table(
    "erasures",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("complaint_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Index("ix_erasures_customer", "client_id", "customer_id"),
)

# Exactly-once POSTs: the first response to each (client, Idempotency-Key), written in the same
# transaction as its effect, so a concurrent duplicate waits on the primary key and then replays it.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("request_hash", Text, nullable=False),
    Column("status_code", Integer),
    Column("response", JSONB),
    Column("location", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

# API keys issued to CRM clients: only the SHA-256 of the secret is kept.
# Where API keys are issued and revoked (admin API); the other services keep copies (keys.py).
api_keys = api_keys_table(metadata)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
