"""Issuing and revoking CRM clients' API keys (scope `admin`). The secret is shown once, never kept."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, ConfigDict, Field

from complaints_common.api import Principal, hash_key, require_scope
from complaints_common.problems import NotFound
from complaints_common.runtime import Runtime
from complaints_intake.api.docs import AUTH_ERRORS, problem
from complaints_intake.store.keys import all_keys, insert_key, revoke_key

Scope = Literal["file", "read", "manage", "admin", "confidential"]
KEY_PREFIX = "cmp_"


class IssueKey(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"client_id": "crm-acme", "scopes": ["file", "read"], "label": "prod"}]
        },
    )

    client_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    scopes: list[Scope] = Field(min_length=1, max_length=5)
    label: str | None = Field(default=None, min_length=1, max_length=100)


class KeyView(BaseModel):
    id: UUID
    client_id: str
    scopes: list[str]
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


class IssuedKey(KeyView):
    key: str = Field(description="The secret: send it as X-API-Key. Shown only in this response.")


AdminPrincipal = Annotated[Principal, Depends(require_scope("admin"))]


def admin_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/v1/admin/api-keys", tags=["admin"])

    async def reload(request: Request) -> None:
        ring: Any = runtime.state.get("key_ring")
        if ring is not None:
            await ring.refresh(request, force=True)

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        summary="Issue an API key",
        description="Creates a key for a CRM client with the given scopes; only its SHA-256 is stored.",
        responses={**AUTH_ERRORS},
    )
    async def issue(body: IssueKey, request: Request, _: AdminPrincipal) -> IssuedKey:
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        async with runtime.db.transaction() as session:
            row = await insert_key(
                session, uuid4(), body.client_id, hash_key(secret), sorted(set(body.scopes)), body.label
            )
        await reload(request)
        return IssuedKey.model_validate({**row, "key": secret})

    @router.get(
        "",
        summary="List API keys",
        description="Every issued key, without secrets.",
        responses={**AUTH_ERRORS},
    )
    async def list_keys(_: AdminPrincipal) -> list[KeyView]:
        async with runtime.db.transaction() as session:
            rows = await all_keys(session)
        return [KeyView.model_validate(r) for r in rows]

    @router.delete(
        "/{key_id}",
        summary="Revoke an API key",
        description="The key stops working at once on this replica and within seconds on the others.",
        responses={**AUTH_ERRORS, 404: problem("No such key.", 404, "not-found", "No API key with this id.")},
    )
    async def revoke(key_id: UUID, request: Request, _: AdminPrincipal) -> KeyView:
        async with runtime.db.transaction() as session:
            row = await revoke_key(session, key_id, datetime.now(UTC))
        if row is None:
            raise NotFound("No API key with this id.")
        await reload(request)
        return KeyView.model_validate(row)

    return router
