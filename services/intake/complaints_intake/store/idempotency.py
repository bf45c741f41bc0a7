"""Idempotency-Key bookkeeping: claim a key in the caller's transaction, remember the response
(filing writes its key in its own statement: store/filing.py).

The primary key (client_id, key) is the guard: a concurrent duplicate blocks on the first
transaction's row, then finds it committed and replays its response instead of acting twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_intake.store.tables import SCHEMA, idempotency_keys


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first answer given under a key, and the hash of the request that earned it."""

    request_hash: str
    status_code: int
    body: Any
    location: str | None


def stored_response_of(row: Any) -> StoredResponse:
    """The stored response in a row that has the table's columns (a SQLAlchemy row or the driver's)."""
    return StoredResponse(row["request_hash"], row["status_code"], row["response"], row["location"])


_STORED = (
    f'SELECT request_hash, status_code, response, location FROM "{SCHEMA}".idempotency_keys '
    "WHERE client_id = $1 AND key = $2"
)


async def stored_response(connection: asyncpg.Connection, client_id: str, key: str) -> StoredResponse | None:
    """The response kept under the key, straight from the driver (filing's, after its write failed)."""
    row = await connection.fetchrow(_STORED, client_id, key)
    return stored_response_of(row) if row is not None else None


async def claim_key(
    session: AsyncConnection, client_id: str, key: str, request_hash: str
) -> StoredResponse | None:
    """None when this request is the first with the key (go ahead); else the response stored for it."""
    claimed = await session.execute(
        insert(idempotency_keys)
        .values(client_id=client_id, key=key, request_hash=request_hash)
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.key)
    )
    if claimed.first() is not None:
        return None
    row = (
        await session.execute(
            select(idempotency_keys).where(
                idempotency_keys.c.client_id == client_id, idempotency_keys.c.key == key
            )
        )
    ).one()
    return stored_response_of(row._mapping)


async def remember_response(
    session: AsyncConnection, client_id: str, key: str, status_code: int, body: Any, location: str | None
) -> None:
    await session.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.client_id == client_id, idempotency_keys.c.key == key)
        .values(status_code=status_code, response=body, location=location)
    )


async def purge_before(session: AsyncConnection, before: datetime) -> int:
    """Forget keys older than `before`: after that a retry with the key files anew."""
    result = await session.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
