"""API keys: who issued and who revoked each key, and when it last changed

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("issued_by", sa.Text(), nullable=True), schema="intake")
    op.add_column("api_keys", sa.Column("revoked_by", sa.Text(), nullable=True), schema="intake")
    op.add_column(
        "api_keys",
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        schema="intake",
    )


def downgrade() -> None:
    op.drop_column("api_keys", "changed_at", schema="intake")
    op.drop_column("api_keys", "revoked_by", schema="intake")
    op.drop_column("api_keys", "issued_by", schema="intake")
