"""Tenants: the CRM client on every decision and complaint, per-client order and customer indexes;
the copy of the issued API keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from complaints_common.db import schema_metadata
from complaints_common.keys import api_keys_table

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "compensation"


def upgrade() -> None:
    for table in ("complaints", "decisions"):
        op.add_column(table, sa.Column("client_id", sa.Text(), nullable=True), schema=SCHEMA)
    # The client filed the complaint: its complaint.created snapshot names it.
    op.execute("UPDATE compensation.complaints SET client_id = snapshot->>'client_id'")
    op.execute(
        "UPDATE compensation.decisions d SET client_id = c.client_id FROM compensation.complaints c "
        "WHERE c.complaint_id = d.complaint_id"
    )
    # A row whose client cannot be told belongs to no tenant: no caller sees it.
    op.execute("UPDATE compensation.complaints SET client_id = '' WHERE client_id IS NULL")
    op.execute("UPDATE compensation.decisions SET client_id = '' WHERE client_id IS NULL")
    for table in ("complaints", "decisions"):
        op.alter_column(table, "client_id", nullable=False, schema=SCHEMA)
    op.drop_index("uq_decisions_granted_order", table_name="decisions", schema=SCHEMA)
    op.drop_index("ix_decisions_customer_decided", table_name="decisions", schema=SCHEMA)
    op.drop_index("ix_decisions_status", table_name="decisions", schema=SCHEMA)
    op.create_index(
        "uq_decisions_client_granted_order",
        "decisions",
        ["client_id", "order_ref"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'granted' AND order_ref IS NOT NULL"),
    )
    op.create_index(
        "ix_decisions_client_customer_decided",
        "decisions",
        ["client_id", "customer_id", "decided_at"],
        schema=SCHEMA,
    )
    op.create_index("ix_decisions_client_status", "decisions", ["client_id", "status"], schema=SCHEMA)
    for old, new, columns in (
        ("ix_complaints_customer_filed", "ix_complaints_client_customer_filed", ["customer_id", "filed_at"]),
        ("ix_complaints_email", "ix_complaints_client_email", ["email_sha256"]),
        ("ix_complaints_phone", "ix_complaints_client_phone", ["phone_sha256"]),
    ):
        op.drop_index(old, table_name="complaints", schema=SCHEMA)
        op.create_index(new, "complaints", ["client_id", *columns], schema=SCHEMA)
    api_keys_table(schema_metadata(SCHEMA)).create(op.get_bind())


def downgrade() -> None:
    api_keys_table(schema_metadata(SCHEMA)).drop(op.get_bind())
    for old, new, columns in (
        ("ix_complaints_customer_filed", "ix_complaints_client_customer_filed", ["customer_id", "filed_at"]),
        ("ix_complaints_email", "ix_complaints_client_email", ["email_sha256"]),
        ("ix_complaints_phone", "ix_complaints_client_phone", ["phone_sha256"]),
    ):
        op.drop_index(new, table_name="complaints", schema=SCHEMA)
        op.create_index(old, "complaints", columns, schema=SCHEMA)
    op.drop_index("ix_decisions_client_status", table_name="decisions", schema=SCHEMA)
    op.drop_index("ix_decisions_client_customer_decided", table_name="decisions", schema=SCHEMA)
    op.drop_index("uq_decisions_client_granted_order", table_name="decisions", schema=SCHEMA)
    op.create_index("ix_decisions_status", "decisions", ["status"], schema=SCHEMA)
    op.create_index(
        "ix_decisions_customer_decided", "decisions", ["customer_id", "decided_at"], schema=SCHEMA
    )
    op.create_index(
        "uq_decisions_granted_order",
        "decisions",
        ["order_ref"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'granted' AND order_ref IS NOT NULL"),
    )
    for table in ("decisions", "complaints"):
        op.drop_column(table, "client_id", schema=SCHEMA)
