"""Tenants: the CRM client on every complaint and follow-up, per-client worklist and survey
indexes; the copy of the issued API keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:50:00
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

SCHEMA = "followup"
FIRED = sa.text("status = 'fired'")
SURVEYS = sa.text("kind = 'satisfaction_check'")


def upgrade() -> None:
    # Rows made before tenants travelled in events: their client cannot be told, so they belong to
    # no tenant (''), and no caller sees them.
    op.add_column("complaints", sa.Column("client_id", sa.Text(), nullable=True), schema=SCHEMA)
    op.add_column(
        "followups", sa.Column("client_id", sa.Text(), server_default="", nullable=False), schema=SCHEMA
    )
    op.alter_column("followups", "client_id", server_default=None, schema=SCHEMA)
    op.drop_index("ix_followups_worklist", table_name="followups", schema=SCHEMA, postgresql_where=FIRED)
    op.drop_index(
        "ix_followups_customer_surveys", table_name="followups", schema=SCHEMA, postgresql_where=SURVEYS
    )
    op.create_index(
        "ix_followups_client_worklist",
        "followups",
        ["client_id", "due_at", "id"],
        schema=SCHEMA,
        postgresql_where=FIRED,
    )
    op.create_index(
        "ix_followups_client_customer_surveys",
        "followups",
        ["client_id", "customer_id", "fired_at"],
        schema=SCHEMA,
        postgresql_where=SURVEYS,
    )
    api_keys_table(schema_metadata(SCHEMA)).create(op.get_bind())


def downgrade() -> None:
    api_keys_table(schema_metadata(SCHEMA)).drop(op.get_bind())
    op.drop_index(
        "ix_followups_client_customer_surveys",
        table_name="followups",
        schema=SCHEMA,
        postgresql_where=SURVEYS,
    )
    op.drop_index(
        "ix_followups_client_worklist", table_name="followups", schema=SCHEMA, postgresql_where=FIRED
    )
    op.create_index(
        "ix_followups_customer_surveys",
        "followups",
        ["customer_id", "fired_at"],
        schema=SCHEMA,
        postgresql_where=SURVEYS,
    )
    op.create_index(
        "ix_followups_worklist", "followups", ["due_at", "id"], schema=SCHEMA, postgresql_where=FIRED
    )
    op.drop_column("followups", "client_id", schema=SCHEMA)
    op.drop_column("complaints", "client_id", schema=SCHEMA)
