"""the options the front line gives a customer where an agent is on the line

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 14:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "compensation"


def upgrade() -> None:
    op.create_table(
        "option_sets",
        sa.Column("complaint_id", sa.UUID(), primary_key=True),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("policy_version", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("choose_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chosen_option", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_id", sa.UUID(), nullable=True),
        sa.Column(
            "trace_context", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_option_sets_open_choose_by",
        "option_sets",
        ["choose_by"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("ix_option_sets_open_choose_by", table_name="option_sets", schema=SCHEMA)
    op.drop_table("option_sets", schema=SCHEMA)
