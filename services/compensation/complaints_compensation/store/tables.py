"""Compensation's tables, all in the `compensation` schema."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, DateTime, Index, Numeric, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from complaints_common.db import schema_metadata
from complaints_common.keys import api_keys_table
from complaints_common.messaging import inbox_table, outbox_table

SCHEMA = "compensation"
metadata = schema_metadata(SCHEMA)

decisions = Table(
    "decisions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    # The CRM client (tenant): every query filters by it; customer ids and order tags are its own.
    Column("client_id", Text, nullable=False),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("customer_id", Text, nullable=False),
    # granted | pending_approval | held | refused | rejected
    Column("status", Text, nullable=False),
    Column("offer", JSONB, nullable=False),
    Column("value_amount", Numeric(14, 2), nullable=False),
    Column("cost_amount", Numeric(14, 2), nullable=False),
    Column("currency", Text, nullable=False),
    Column("voucher_code", Text, unique=True),
    Column("voucher_expires_at", DateTime(timezone=True)),
    # active | redeemed | expired | clawed_back (only for decisions that carry a voucher)
    Column("voucher_status", Text),
    Column("voucher_changed_at", DateTime(timezone=True)),
    Column("voucher_changed_by", Text),
    Column("voucher_reason", Text),  # the person's own words: erased with the customer's data
    # The trace of the complaint the decision is for: the expiry loop continues it.
    Column("trace_context", JSONB, nullable=False, server_default="{}"),
    Column("rule_id", Text, nullable=False),  # the rule that decided (offer, abuse or authority rule)
    Column("offer_rule_id", Text),  # the policy rule that made the offer
    Column("policy_version", Text, nullable=False),
    Column("authority", Text, nullable=False),  # frontline | supervisor | manager: who it needed
    Column("proposed_by", Text, nullable=False, server_default="auto"),
    Column("granted_by", Text),
    Column("reason", Text),
    # [{"by", "role", "action", "reason", "at"}]: every sign-off, for four eyes and the audit trail
    Column("signoffs", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("within_frontline", Boolean, nullable=False, server_default=text("false")),
    Column("category", Text),
    Column("channel", Text),
    Column("order_ref", Text),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("settled_at", DateTime(timezone=True)),
    # At most one automatic decision per complaint, whatever the redelivery or replica count.
    Index(
        "uq_decisions_auto_complaint",
        "complaint_id",
        unique=True,
        postgresql_where=text("proposed_by = 'auto'"),
    ),
    # At most one live (granted or waiting) compensation per complaint; an apology alone does not count.
    Index(
        "uq_decisions_live_complaint",
        "complaint_id",
        unique=True,
        postgresql_where=text("status IN ('granted', 'pending_approval', 'held') AND value_amount > 0"),
    ),
    # No second grant for the same order of the same client.
    Index(
        "uq_decisions_client_granted_order",
        "client_id",
        "order_ref",
        unique=True,
        postgresql_where=text("status = 'granted' AND order_ref IS NOT NULL"),
    ),
    Index("ix_decisions_client_customer_decided", "client_id", "customer_id", "decided_at"),
    Index("ix_decisions_client_status", "client_id", "status"),
)

# Each client's granted cost per currency and budget period (a month, by its first day in UTC), raised
# in the statement that records a grant: the budget check reads one row, not the month's grants.
granted_spend = Table(
    "granted_spend",
    metadata,
    Column("client_id", Text, primary_key=True),  # the tenant: a budget is each client's own
    Column("currency", Text, primary_key=True),
    Column("period", Date, primary_key=True),
    Column("amount", Numeric(16, 2), nullable=False),
)

# What compensation knows of each complaint, for proposals and abuse checks. No name, no address:
# contact details only as SHA-256 digests, enough to see them shared across customers.
complaints = Table(
    "complaints",
    metadata,
    Column("complaint_id", UUID(as_uuid=True), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("email_sha256", Text),
    Column("phone_sha256", Text),
    Column("snapshot", JSONB, nullable=False),  # complaint.created data without contact details
    Column("filed_at", DateTime(timezone=True), nullable=False),
    Index("ix_complaints_client_customer_filed", "client_id", "customer_id", "filed_at"),
    Index("ix_complaints_client_email", "client_id", "email_sha256"),
    Index("ix_complaints_client_phone", "client_id", "phone_sha256"),
)

# The options the front line gives a customer where an agent is on the line, and what became of
# them: chosen (by whom, which decision), proposed over (the agent's own offer), or lapsed (no choice
# by `choose_by`: the first option was granted automatically).
option_sets = Table(
    "option_sets",
    metadata,
    Column("complaint_id", UUID(as_uuid=True), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("options", JSONB, nullable=False),  # [{"option_id", "offer"}], in the order offered
    Column("policy_version", Text, nullable=False),
    # open | chosen | proposed | lapsed
    Column("status", Text, nullable=False, server_default="open"),
    Column("offered_at", DateTime(timezone=True), nullable=False),
    Column("choose_by", DateTime(timezone=True), nullable=False),
    Column("chosen_option", Text),
    Column("closed_by", Text),
    Column("closed_at", DateTime(timezone=True)),
    Column("decision_id", UUID(as_uuid=True)),
    Column("trace_context", JSONB, nullable=False, server_default="{}"),
    Index("ix_option_sets_open_choose_by", "choose_by", postgresql_where=text("status = 'open'")),
)

policies = Table(
    "policies",
    metadata,
    Column("version", Text, primary_key=True),
    Column("document", JSONB, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("false")),
    Column("loaded_by", Text, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("uq_policies_active", "active", unique=True, postgresql_where=text("active")),
)

api_keys = api_keys_table(metadata)
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
