"""regulated deadlines, letters, tenant deadline settings, granted compensation, erasures

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 11:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Profiles renamed with this revision, and the calendar each counted business days on before.
RENAMED = {"uk-fca": ("uk-fca-disp", "GB-EAW"), "uk-fca-payments": ("uk-payment-services", "GB-EAW")}


def upgrade() -> None:
    op.create_table(
        "deadline_settings",
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=True),
        sa.Column("calendar", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "category", name=op.f("pk_deadline_settings")),
        schema="intake",
    )
    op.create_table(
        "letters",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("complaint_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("regime", sa.Text(), nullable=True),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("redress_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("redress_currency", sa.Text(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column(
            "required_content", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("respond_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issued_by", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letters")),
        schema="intake",
    )
    op.create_index(
        "ix_letters_complaint", "letters", ["complaint_id", "issued_at"], unique=False, schema="intake"
    )
    op.create_table(
        "granted_compensation",
        sa.Column("decision_id", sa.UUID(), nullable=False),
        sa.Column("complaint_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_granted_compensation")),
        schema="intake",
    )
    op.create_index(
        "ix_granted_compensation_complaint",
        "granted_compensation",
        ["complaint_id"],
        unique=False,
        schema="intake",
    )
    op.create_table(
        "erasures",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("complaint_ids", sa.ARRAY(sa.UUID()), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
        schema="intake",
    )
    op.create_index(
        "ix_erasures_customer", "erasures", ["client_id", "customer_id"], unique=False, schema="intake"
    )
    for column in ("deadline_profile_reason", "calendar", "calendar_reason", "outcome", "redress_currency"):
        op.add_column("complaints", sa.Column(column, sa.Text(), nullable=True), schema="intake")
    op.add_column(
        "complaints",
        sa.Column("redress_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        schema="intake",
    )
    for old, (new, calendar) in RENAMED.items():
        op.execute(
            sa.text(
                "UPDATE intake.complaints SET deadline_profile = :new, calendar = :calendar, "
                "calendar_reason = 'the profile''s calendar' WHERE deadline_profile = :old"
            ).bindparams(old=old, new=new, calendar=calendar)
        )


def downgrade() -> None:
    for old, (new, _) in RENAMED.items():
        op.execute(
            sa.text(
                "UPDATE intake.complaints SET deadline_profile = :old WHERE deadline_profile = :new"
            ).bindparams(old=old, new=new)
        )
    for column in (
        "redress_amount",
        "redress_currency",
        "outcome",
        "calendar_reason",
        "calendar",
        "deadline_profile_reason",
    ):
        op.drop_column("complaints", column, schema="intake")
    op.drop_index("ix_erasures_customer", table_name="erasures", schema="intake")
    op.drop_table("erasures", schema="intake")
    op.drop_index("ix_granted_compensation_complaint", table_name="granted_compensation", schema="intake")
    op.drop_table("granted_compensation", schema="intake")
    op.drop_index("ix_letters_complaint", table_name="letters", schema="intake")
    op.drop_table("letters", schema="intake")
    op.drop_table("deadline_settings", schema="intake")
