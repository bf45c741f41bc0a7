"""Issued API keys, honoured by every service: one table shape in each service's own schema.

Intake's `api_keys` table is where keys are issued and revoked (its admin API); every change is
published as `platform.api_key_changed` on the compacted `platform.api-keys` topic, and the other
services' workers keep the same table in their own schema from it. Each API replica re-reads its
table at most every `api_key_refresh_s` seconds (`identity.KeyRing`), so a key revoked at intake
stops working everywhere within relay + consumer latency (milliseconds) plus that interval.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ARRAY, Column, DateTime, MetaData, Table, Text, func, select
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.consumer import Subscription
from complaints_common.db import Database
from complaints_common.events.contracts import ApiKeyChangedV1
from complaints_common.events.envelope import API_KEY_CHANGED_V1, Event
from complaints_common.identity import KeyLoader
from complaints_common.settings import ApiKey


def api_keys_table(metadata: MetaData) -> Table:
    return Table(
        "api_keys",
        metadata,
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("client_id", Text, nullable=False),
        Column("sha256", Text, nullable=False, unique=True),
        Column("scopes", ARRAY(Text), nullable=False),
        Column("label", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("revoked_at", DateTime(timezone=True)),
        # The audit: who issued the key and who revoked it (a person id or `api-key:<id>`).
        Column("issued_by", Text),
        Column("revoked_by", Text),
        Column("changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def key_loader(db: Database, table: Table) -> KeyLoader:
    """Reads the table's live keys, for the API's KeyRing."""
    query = select(table.c.id, table.c.client_id, table.c.sha256, table.c.scopes).where(
        table.c.revoked_at.is_(None)
    )

    async def load() -> list[ApiKey]:
        async with db.transaction() as session:
            rows = (await session.execute(query)).all()
        return [
            ApiKey(id=str(r.id), client=r.client_id, sha256=r.sha256, scopes=list(r.scopes)) for r in rows
        ]

    return load


async def apply_key_change(session: AsyncConnection, table: Table, change: ApiKeyChangedV1) -> None:
    """Keep the newest state of the key (an older change arriving late changes nothing; a
    revocation is never undone)."""
    values: dict[str, Any] = {
        "id": change.key_id,
        "client_id": change.client_id,
        "sha256": change.sha256,
        "scopes": change.scopes,
        "label": change.label,
        "created_at": change.created_at,
        "revoked_at": change.revoked_at,
        "changed_at": change.changed_at,
        ("revoked_by" if change.revoked_at else "issued_by"): change.changed_by,
    }
    statement = insert(table).values(**values)
    update: dict[str, Any] = {k: statement.excluded[k] for k in values if k not in {"id", "revoked_at"}}
    update["revoked_at"] = func.coalesce(table.c.revoked_at, statement.excluded.revoked_at)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.id],
            set_=update,
            where=table.c.changed_at <= statement.excluded.changed_at,
        )
    )


def key_subscription(table: Table) -> Subscription[ApiKeyChangedV1]:
    """The consumer of `platform.api-keys` that keeps a service's own copy of the keys."""

    async def on_key_changed(session: AsyncConnection, event: Event[ApiKeyChangedV1]) -> None:
        await apply_key_change(session, table, event.data)

    return Subscription(API_KEY_CHANGED_V1, on_key_changed)
