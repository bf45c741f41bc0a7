"""API keys issued to CRM clients, kept as SHA-256 digests only, per client (tenant)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_intake.store.tables import api_keys


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An issued key: its digest, never its secret, and who issued and revoked it."""

    id: UUID
    client_id: str
    sha256: str
    scopes: tuple[str, ...]
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    issued_by: str | None
    revoked_by: str | None
    changed_at: datetime


def _key(row: Row[Any]) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        client_id=row.client_id,
        sha256=row.sha256,
        scopes=tuple(row.scopes),
        label=row.label,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        issued_by=row.issued_by,
        revoked_by=row.revoked_by,
        changed_at=row.changed_at,
    )


async def insert_key(
    session: AsyncConnection,
    key_id: UUID,
    client_id: str,
    sha256: str,
    scopes: list[str],
    label: str | None,
    issued_by: str,
) -> KeyRecord:
    row = await session.execute(
        api_keys.insert()
        .values(
            id=key_id, client_id=client_id, sha256=sha256, scopes=scopes, label=label, issued_by=issued_by
        )
        .returning(api_keys)
    )
    return _key(row.one())


async def keys_of(session: AsyncConnection, client_id: str | None) -> list[KeyRecord]:
    """A client's keys; every client's for None (the platform operator)."""
    query = select(api_keys).order_by(api_keys.c.created_at)
    if client_id is not None:
        query = query.where(api_keys.c.client_id == client_id)
    return [_key(r) for r in await session.execute(query)]


async def revoke_key(
    session: AsyncConnection, key_id: UUID, client_id: str | None, at: datetime, revoked_by: str
) -> KeyRecord | None:
    """Revoke a key of the client (any client's for None); None when there is no such key."""
    statement = update(api_keys).where(api_keys.c.id == key_id)
    if client_id is not None:
        statement = statement.where(api_keys.c.client_id == client_id)
    row = await session.execute(
        # Revoking twice keeps the first revocation and who made it.
        statement.values(
            revoked_at=func.coalesce(api_keys.c.revoked_at, at),
            revoked_by=func.coalesce(api_keys.c.revoked_by, revoked_by),
            changed_at=at,
        ).returning(api_keys)
    )
    found = row.first()
    return _key(found) if found else None
