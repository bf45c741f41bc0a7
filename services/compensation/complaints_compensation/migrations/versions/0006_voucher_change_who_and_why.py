"""decisions keep who changed the voucher (redeemed, clawed back) and why

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "decisions", sa.Column("voucher_changed_by", sa.Text(), nullable=True), schema="compensation"
    )
    op.add_column("decisions", sa.Column("voucher_reason", sa.Text(), nullable=True), schema="compensation")


def downgrade() -> None:
    op.drop_column("decisions", "voucher_reason", schema="compensation")
    op.drop_column("decisions", "voucher_changed_by", schema="compensation")
