"""decisions keep the complaint's trace context (the voucher-expiry loop continues it)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "decisions",
        sa.Column(
            "trace_context",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        schema="compensation",
    )


def downgrade() -> None:
    op.drop_column("decisions", "trace_context", schema="compensation")
