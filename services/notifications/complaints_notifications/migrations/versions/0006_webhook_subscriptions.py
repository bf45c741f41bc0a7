"""webhook subscriptions per tenant, their signing secrets, and pushes to them as messages

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "notifications"


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_subscriptions"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_webhook_subscriptions_client", "webhook_subscriptions", ["client_id", "created_at"], schema=SCHEMA
    )
    op.create_table(
        "webhook_secrets",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "subscription_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(
                f"{SCHEMA}.webhook_subscriptions.id",
                name="fk_webhook_secrets_subscription_id_webhook_subscriptions",
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_secrets"),
        schema=SCHEMA,
    )
    op.create_index("ix_webhook_secrets_subscription", "webhook_secrets", ["subscription_id"], schema=SCHEMA)
    op.add_column("messages", sa.Column("subscription_id", postgresql.UUID(as_uuid=True)), schema=SCHEMA)
    # A test delivery belongs to no complaint.
    op.alter_column("messages", "complaint_id", nullable=True, schema=SCHEMA)
    op.drop_constraint("uq_messages_event_id_kind", "messages", schema=SCHEMA)
    op.create_unique_constraint(
        "uq_messages_event_id_kind_subscription_id",
        "messages",
        ["event_id", "kind", "subscription_id"],
        schema=SCHEMA,
        postgresql_nulls_not_distinct=True,
    )


def downgrade() -> None:
    op.execute("DELETE FROM notifications.messages WHERE subscription_id IS NOT NULL OR complaint_id IS NULL")
    op.drop_constraint("uq_messages_event_id_kind_subscription_id", "messages", schema=SCHEMA)
    op.create_unique_constraint("uq_messages_event_id_kind", "messages", ["event_id", "kind"], schema=SCHEMA)
    op.alter_column("messages", "complaint_id", nullable=False, schema=SCHEMA)
    op.drop_column("messages", "subscription_id", schema=SCHEMA)
    op.drop_table("webhook_secrets", schema=SCHEMA)
    op.drop_table("webhook_subscriptions", schema=SCHEMA)
