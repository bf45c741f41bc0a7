"""each client's granted cost per currency and month, kept with every grant (the budget's running
total), backfilled from the decisions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "compensation"


def upgrade() -> None:
    op.create_table(
        "granted_spend",
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(16, 2), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "currency", "period", name="pk_granted_spend"),
        schema=SCHEMA,
    )
    # Every month's totals, from the grants so far. Replicas of the previous release still running
    # during the rollout grant without adding to them: docs/operations.md says how to recount.
    op.execute(
        "INSERT INTO compensation.granted_spend (client_id, currency, period, amount) "
        "SELECT client_id, currency, date_trunc('month', settled_at AT TIME ZONE 'UTC')::date, "
        "sum(cost_amount) FROM compensation.decisions "
        "WHERE status = 'granted' AND settled_at IS NOT NULL GROUP BY 1, 2, 3"
    )


def downgrade() -> None:
    op.drop_table("granted_spend", schema=SCHEMA)
