"""Intake's tables, all in the `intake` schema."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    DateTime,
    Index,
    Numeric,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from complaints_common.db import schema_metadata
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
    UniqueConstraint("client_id", "crm_reference"),
    Index("ix_complaints_customer", "customer_id", "filed_at"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
