"""indexes for finding a complaint by what the CRM holds: e-mail, phone, tags, words of the description

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:55:00.000000

The expressions are the ones store/search.py filters on, so PostgreSQL can use the indexes: the
e-mail lower-cased, the phone by its digits (and a leading +), the description as `simple` words.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_complaints_customer_email": "(client_id, lower(customer ->> 'email'))",
    "ix_complaints_customer_phone": "(client_id, regexp_replace(customer ->> 'phone', '[^0-9+]', '', 'g'))",
    "ix_complaints_tags": "USING gin (tags)",
    "ix_complaints_description_words": "USING gin (to_tsvector('simple', description))",
}


def upgrade() -> None:
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON intake.complaints {definition}")


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX intake.{name}")
