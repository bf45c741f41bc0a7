"""API keys issued to CRM clients, kept as SHA-256 digests only."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_intake.store.tables import api_keys


async def insert_key(
    session: AsyncConnection, key_id: UUID, client_id: str, sha256: str, scopes: list[str], label: str | None
) -> dict[str, Any]:
    row = await session.execute(
        api_keys.insert()
        .values(id=key_id, client_id=client_id, sha256=sha256, scopes=scopes, label=label)
        .returning(api_keys)
    )
    return dict(row.one()._mapping)


async def active_keys(session: AsyncConnection) -> list[dict[str, Any]]:
    rows = await session.execute(select(api_keys).where(api_keys.c.revoked_at.is_(None)))
    return [dict(r._mapping) for r in rows]


async def all_keys(session: AsyncConnection) -> list[dict[str, Any]]:
    rows = await session.execute(select(api_keys).order_by(api_keys.c.created_at))
    return [dict(r._mapping) for r in rows]


async def revoke_key(session: AsyncConnection, key_id: UUID, at: datetime) -> dict[str, Any] | None:
    row = await session.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id)
        # Revoking twice keeps the first revocation time.
        .values(revoked_at=func.coalesce(api_keys.c.revoked_at, at))
        .returning(api_keys)
    )
    found = row.first()
    return dict(found._mapping) if found else None
