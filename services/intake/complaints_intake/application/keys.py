"""Issuing and revoking CRM clients' API keys. The secret is shown once, never kept; every change
is audited and published on `platform.api-keys`, so every service honours it within seconds.

A tenant's admin manages its own client's keys only; a platform operator any client's."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from uuid import UUID, uuid4

from complaints_common.api import Principal, hash_key
from complaints_common.events.contracts import ApiKeyChangedV1
from complaints_common.events.envelope import API_KEY_CHANGED_V1, Event
from complaints_common.identity import KeyRing
from complaints_common.problems import Forbidden, NotFound
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.events.publishing import SOURCE
from complaints_intake.store.keys import KeyRecord, insert_key, keys_of, revoke_key

KEY_PREFIX = "cmp_"


def key_event(key: KeyRecord, by: str) -> Event[ApiKeyChangedV1]:
    change = ApiKeyChangedV1(
        key_id=key.id,
        client_id=key.client_id,
        sha256=key.sha256,
        scopes=list(key.scopes),
        label=key.label,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        changed_by=by,
        changed_at=key.changed_at,
    )
    return Event(API_KEY_CHANGED_V1, change, SOURCE)


def managed_by(principal: Principal) -> str | None:
    """The client whose keys the caller manages; None: every client's (platform operator)."""
    return None if principal.platform_operator else principal.client


async def issue_key(
    deps: IntakeDependencies,
    ring: KeyRing,
    principal: Principal,
    client_id: str | None,
    scopes: list[str],
    label: str | None,
) -> tuple[KeyRecord, str]:
    """The key issued (for `client_id`, else the caller's client) and its secret, honoured here at once."""
    client = client_id or principal.client
    if client != principal.client and not principal.platform_operator:
        raise Forbidden("A tenant's admin issues keys for its own client only.")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    async with deps.runtime.db.transaction() as session:
        key = await insert_key(
            session, uuid4(), client, hash_key(secret), sorted(set(scopes)), label, principal.actor_id
        )
        await deps.runtime.outbox.add(session, key_event(key, principal.actor_id))
    await ring.current(force=True)
    return key, secret


async def keys_for(deps: IntakeDependencies, principal: Principal) -> list[KeyRecord]:
    async with deps.runtime.db.transaction() as session:
        return await keys_of(session, managed_by(principal))


async def revoke(deps: IntakeDependencies, ring: KeyRing, principal: Principal, key_id: UUID) -> KeyRecord:
    """Revoked (the first revocation and who made it kept), and refused here at once."""
    async with deps.runtime.db.transaction() as session:
        key = await revoke_key(session, key_id, managed_by(principal), datetime.now(UTC), principal.actor_id)
        if key is None:
            raise NotFound("No API key with this id.")
        await deps.runtime.outbox.add(session, key_event(key, principal.actor_id))
    await ring.current(force=True)
    return key
