"""Compensation's tables, all in the `compensation` schema."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Numeric, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from complaints_common.db import schema_metadata
from complaints_common.messaging import inbox_table, outbox_table

SCHEMA = "compensation"
metadata = schema_metadata(SCHEMA)

decisions = Table(
    "decisions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    # At most one automatic decision per complaint, whatever the redelivery or replica count.
    Column("complaint_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("customer_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("offer", JSONB, nullable=False),
    Column("value_amount", Numeric(14, 2), nullable=False),
    Column("cost_amount", Numeric(14, 2), nullable=False),
    Column("currency", Text, nullable=False),
    Column("voucher_code", Text, unique=True),
    Column("voucher_expires_at", DateTime(timezone=True)),
    Column("rule_id", Text, nullable=False),
    Column("policy_version", Text, nullable=False),
    Column("authority", Text, nullable=False),
    Column("granted_by", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
