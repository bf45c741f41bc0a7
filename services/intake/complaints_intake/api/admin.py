"""Issuing and revoking CRM clients' API keys. The secret is shown once, never kept.

A tenant's admin (scope `admin`) manages its own client's keys only; a platform operator (a token
with the `platform-operator` role) may manage any client's and names the client in the body.
Every issuance and revocation records who made it, and is published on `platform.api-keys` so that
every service honours the key, and stops honouring it within seconds of its revocation.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, ConfigDict, Field

from complaints_common.api import Principal, hash_key, require_scope
from complaints_common.events.contracts import ApiKeyChangedV1
from complaints_common.events.envelope import API_KEY_CHANGED_V1, Event
from complaints_common.identity import KeyRing
from complaints_common.openapi import problem_response
from complaints_common.problems import Forbidden, NotFound
from complaints_intake.api.docs import RATE_LIMITED
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.events.publishing import SOURCE
from complaints_intake.store.keys import KeyRecord, insert_key, keys_of, revoke_key

Scope = Literal["file", "read", "manage", "admin", "confidential"]
KEY_PREFIX = "cmp_"


class IssueKey(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"scopes": ["file", "read"], "label": "prod"}]},
    )

    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Only for a platform operator: the client the key is for (else the caller's own).",
    )
    scopes: list[Scope] = Field(min_length=1, max_length=5)
    label: str | None = Field(default=None, min_length=1, max_length=100)


class KeyView(BaseModel):
    id: UUID
    client_id: str
    scopes: list[str]
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    issued_by: str | None = Field(description="Who issued the key: a person id, or `api-key:<id>`.")
    revoked_by: str | None


class IssuedKey(KeyView):
    key: str = Field(description="The secret: send it as X-API-Key. Shown only in this response.")


AdminPrincipal = Annotated[Principal, Depends(require_scope("admin"))]


def key_event(row: KeyRecord, by: str) -> Event[ApiKeyChangedV1]:
    change = ApiKeyChangedV1(
        key_id=row.id,
        client_id=row.client_id,
        sha256=row.sha256,
        scopes=list(row.scopes),
        label=row.label,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        changed_by=by,
        changed_at=row.changed_at,
    )
    return Event(API_KEY_CHANGED_V1, change, SOURCE)


def admin_router(deps: IntakeDependencies) -> APIRouter:
    runtime = deps.runtime
    router = APIRouter(prefix="/v1/admin/api-keys", tags=["admin"])

    async def reload(request: Request) -> None:
        ring: KeyRing = request.app.state.key_ring
        await ring.current(force=True)

    def scope_of(principal: Principal) -> str | None:
        """The client whose keys the caller manages; None: every client's (platform operator)."""
        return None if principal.platform_operator else principal.client

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        summary="Issue an API key",
        description=(
            "Creates a key for the caller's CRM client with the given scopes (a platform operator "
            "names the client); only its SHA-256 is stored, with who issued it. Every service honours "
            "the key within seconds."
        ),
        responses={**RATE_LIMITED},
    )
    async def issue(body: IssueKey, request: Request, principal: AdminPrincipal) -> IssuedKey:
        client = body.client_id or principal.client
        if client != principal.client and not principal.platform_operator:
            raise Forbidden("A tenant's admin issues keys for its own client only.")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        async with runtime.db.transaction() as session:
            row = await insert_key(
                session,
                uuid4(),
                client,
                hash_key(secret),
                sorted(set(body.scopes)),
                body.label,
                principal.actor_id,
            )
            await runtime.outbox.add(session, key_event(row, principal.actor_id))
        await reload(request)
        return IssuedKey.model_validate(
            {**KeyView.model_validate(row, from_attributes=True).model_dump(), "key": secret}
        )

    @router.get(
        "",
        summary="List API keys",
        description="The caller's client's keys (every client's for a platform operator), without secrets.",
        responses={**RATE_LIMITED},
    )
    async def list_keys(principal: AdminPrincipal) -> list[KeyView]:
        async with runtime.db.transaction() as session:
            rows = await keys_of(session, scope_of(principal))
        return [KeyView.model_validate(r, from_attributes=True) for r in rows]

    @router.delete(
        "/{key_id}",
        summary="Revoke an API key",
        description=(
            "The key stops working at once on this replica and within `API_KEY_REFRESH_S` (2 s by "
            "default) plus the event's relay on every replica of every service."
        ),
        responses={
            **RATE_LIMITED,
            404: problem_response("No such key.", NotFound, "No API key with this id."),
        },
    )
    async def revoke(key_id: UUID, request: Request, principal: AdminPrincipal) -> KeyView:
        async with runtime.db.transaction() as session:
            row = await revoke_key(
                session, key_id, scope_of(principal), datetime.now(UTC), principal.actor_id
            )
            if row is None:
                raise NotFound("No API key with this id.")
            await runtime.outbox.add(session, key_event(row, principal.actor_id))
        await reload(request)
        return KeyView.model_validate(row, from_attributes=True)

    return router
