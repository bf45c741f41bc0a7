"""`Idempotency-Key` on POST: the same key and body replay the first response; another body is refused."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from fastapi_problem.error import StatusProblem
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_intake.store.idempotency import claim_key, remember_response

REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description=(
            "A unique value per operation (a UUID is ideal), so a retried request has its effect once. "
            "The same key with the same body returns the first response (with the header "
            "`Idempotent-Replayed: true`); with a different body, a 422 problem `idempotency-key-reused`. "
            "Keys are scoped to your client."
        ),
        examples=["5f1c8c7e-2b7a-4a43-9d59-1f0e1c2d3b4a"],
    ),
]


class IdempotencyKeyReused(StatusProblem):
    type_ = "idempotency-key-reused"
    title = "The Idempotency-Key was already used for a different request."
    status = 422


def request_hash(method: str, path: str, body: BaseModel | None) -> str:
    """A fingerprint of what was asked: method, path and the validated body in canonical JSON."""
    canonical = json.dumps(
        {"method": method, "path": path, "body": body.model_dump(mode="json") if body else None},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def replay_if_seen(
    session: AsyncConnection, client_id: str, key: str | None, fingerprint: str
) -> JSONResponse | None:
    """The first response when `key` was already used for this request; None when this one is new."""
    if key is None:
        return None
    stored = await claim_key(session, client_id, key, fingerprint)
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was first used with a different request; use a new key per operation."
        )
    headers = {REPLAYED_HEADER: "true"}
    if stored.location:
        headers["Location"] = stored.location
    return JSONResponse(status_code=stored.status_code, content=stored.body, headers=headers)


def response_body(model: BaseModel) -> Any:
    return model.model_dump(mode="json")


async def remember(
    session: AsyncConnection,
    client_id: str,
    key: str | None,
    status_code: int,
    body: BaseModel,
    location: str | None,
) -> None:
    """Keep the response under the key, in the transaction that made it, for replays."""
    if key is not None:
        await remember_response(session, client_id, key, status_code, response_body(body), location)
