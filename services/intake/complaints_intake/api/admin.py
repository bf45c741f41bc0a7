"""The admin API of CRM clients' API keys (application/keys.py).

A tenant's admin (scope `admin`) manages its own client's keys only; a platform operator (a token
with the `platform-operator` role) may manage any client's and names the client in the body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field

from complaints_common.api import Principal, require_scope
from complaints_common.openapi import problem_response
from complaints_common.problems import NotFound
from complaints_intake.api.dependencies import Deps, Keys
from complaints_intake.api.docs import RATE_LIMITED
from complaints_intake.application import keys

Scope = Literal["file", "read", "manage", "admin", "confidential"]


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

router = APIRouter(prefix="/v1/admin/api-keys", tags=["admin"])


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
async def issue(body: IssueKey, principal: AdminPrincipal, deps: Deps, ring: Keys) -> IssuedKey:
    key, secret = await keys.issue_key(deps, ring, principal, body.client_id, list(body.scopes), body.label)
    shown = KeyView.model_validate(key, from_attributes=True)
    return IssuedKey(**shown.model_dump(), key=secret)


@router.get(
    "",
    summary="List API keys",
    description="The caller's client's keys (every client's for a platform operator), without secrets.",
    responses={**RATE_LIMITED},
)
async def list_keys(principal: AdminPrincipal, deps: Deps) -> list[KeyView]:
    return [KeyView.model_validate(k, from_attributes=True) for k in await keys.keys_for(deps, principal)]


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
async def revoke(key_id: UUID, principal: AdminPrincipal, deps: Deps, ring: Keys) -> KeyView:
    return KeyView.model_validate(await keys.revoke(deps, ring, principal, key_id), from_attributes=True)
