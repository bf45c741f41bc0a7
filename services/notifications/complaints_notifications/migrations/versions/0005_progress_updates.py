"""recipients keep the complaint's due times, whether it is open and when the customer was last told
(the next-contact date and the progress updates)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "notifications"


def upgrade() -> None:
    op.add_column(
        "recipients",
        sa.Column(
            "deadlines",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        schema=SCHEMA,
    )
    op.add_column(
        "recipients",
        sa.Column("open", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        schema=SCHEMA,
    )
    op.add_column("recipients", sa.Column("last_told_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column(
        "recipients",
        sa.Column("progress_updates", sa.Integer(), server_default="0", nullable=False),
        schema=SCHEMA,
    )
    op.add_column(
        "recipients",
        sa.Column("escalation_level", sa.Integer(), server_default="0", nullable=False),
        schema=SCHEMA,
    )
    op.add_column(
        "recipients",
        sa.Column("filed", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        schema=SCHEMA,
    )
    # Complaints already known count from now: none gets a progress update at once after the upgrade.
    op.execute("UPDATE notifications.recipients SET last_told_at = now()")
    op.create_index(
        "ix_recipients_open_last_told",
        "recipients",
        ["last_told_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("open"),
    )


def downgrade() -> None:
    op.drop_index("ix_recipients_open_last_told", table_name="recipients", schema=SCHEMA)
    for column in ("filed", "escalation_level", "progress_updates", "last_told_at", "open", "deadlines"):
        op.drop_column("recipients", column, schema=SCHEMA)
