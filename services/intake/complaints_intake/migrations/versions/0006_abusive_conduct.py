"""complaints record abusive conduct towards staff: when, and who flagged it

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "intake"


def upgrade() -> None:
    op.add_column("complaints", sa.Column("abusive_conduct_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column("complaints", sa.Column("abusive_conduct_by", sa.Text()), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("complaints", "abusive_conduct_by", schema=SCHEMA)
    op.drop_column("complaints", "abusive_conduct_at", schema=SCHEMA)
