"""Tenants: the CRM client on every message, a per-client customer index; the copy of the issued
API keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:00:00
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

SCHEMA = "notifications"


def upgrade() -> None:
    op.add_column("messages", sa.Column("client_id", sa.Text(), nullable=True), schema=SCHEMA)
    op.execute(
        "UPDATE notifications.messages m SET client_id = r.client_id FROM notifications.recipients r "
        "WHERE r.complaint_id = m.complaint_id"
    )
    op.drop_index("ix_messages_customer", table_name="messages", schema=SCHEMA)
    op.create_index(
        "ix_messages_client_customer", "messages", ["client_id", "customer_id", "created_at"], schema=SCHEMA
    )
    api_keys_table(schema_metadata(SCHEMA)).create(op.get_bind())


def downgrade() -> None:
    api_keys_table(schema_metadata(SCHEMA)).drop(op.get_bind())
    op.drop_index("ix_messages_client_customer", table_name="messages", schema=SCHEMA)
    op.create_index("ix_messages_customer", "messages", ["customer_id", "created_at"], schema=SCHEMA)
    op.drop_column("messages", "client_id", schema=SCHEMA)
