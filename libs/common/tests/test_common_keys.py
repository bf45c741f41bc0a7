"""A service's copy of the issued API keys, kept from `platform.api_key_changed` events, on real
PostgreSQL: the newest change wins, a revocation is never undone, only live keys are honoured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import Table, text

from complaints_common.db import Database, schema_metadata
from complaints_common.events.contracts import ApiKeyChangedV1
from complaints_common.identity import KeyRing, hash_key, key_principal
from complaints_common.keys import api_keys_table, apply_key_change, key_loader
from complaints_common.problems import Unauthorised

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


@pytest.fixture
async def copy(database_url: str) -> AsyncIterator[tuple[Database, Table]]:
    metadata = schema_metadata("keycopy")
    table = api_keys_table(metadata)
    db = Database(database_url, pool_size=2)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text('CREATE SCHEMA "keycopy"'))
            await conn.run_sync(metadata.create_all)
        yield db, table
    finally:
        await db.dispose()


def change(key_id: object, at: datetime, revoked: bool = False) -> ApiKeyChangedV1:
    return ApiKeyChangedV1.model_validate(
        {
            "key_id": key_id,
            "client_id": "crm-a",
            "sha256": hash_key("secret-1"),
            "scopes": ["read"],
            "created_at": T0,
            "revoked_at": at if revoked else None,
            "changed_by": "admin-a",
            "changed_at": at,
        }
    )


async def test_a_late_issue_event_never_undoes_a_revocation(copy: tuple[Database, Table]) -> None:
    db, table = copy
    ring = KeyRing([], refresh_s=0, load=key_loader(db, table))
    key_id = uuid4()
    async with db.transaction() as session:
        await apply_key_change(session, table, change(key_id, T0))
    principal = key_principal(await ring.current(), "secret-1")
    assert (principal.client, principal.key_id, principal.actor_id) == (
        "crm-a",
        str(key_id),
        f"api-key:{key_id}",
    )

    async with db.transaction() as session:
        await apply_key_change(session, table, change(key_id, T0 + timedelta(minutes=1), revoked=True))
        await apply_key_change(session, table, change(key_id, T0))  # redelivered, out of order
    with pytest.raises(Unauthorised):
        key_principal(await ring.current(), "secret-1")
    async with db.transaction() as session:
        row = (await session.execute(table.select())).one()
    assert (row.issued_by, row.revoked_by) == ("admin-a", "admin-a")
