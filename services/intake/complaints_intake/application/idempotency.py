"""Exactly-once writes: a retry with the same Idempotency-Key and request gets the first response
(claimed and remembered in the transaction of the write itself); another request is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from fastapi_problem.error import StatusProblem
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_intake.store.complaints import ComplaintRecord
from complaints_intake.store.idempotency import StoredResponse, claim_key, remember_response

ViewT = TypeVar("ViewT", bound=BaseModel)
# How the route shows a complaint: what a retry is answered with, so it is remembered as shown.
ShowComplaint = Callable[[ComplaintRecord], ViewT]


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


@dataclass(frozen=True, slots=True)
class Once:
    """A write that must take effect once: whose it is, its Idempotency-Key (None: the caller sent
    none) and the fingerprint of the request."""

    client_id: str
    key: str | None
    fingerprint: str

    @classmethod
    def post(cls, client_id: str, key: str | None, path: str, body: BaseModel) -> Once:
        return cls(client_id, key, request_hash("POST", path, body))


@dataclass(frozen=True, slots=True)
class Answer(Generic[ViewT]):
    """The response to a write: its body and, for a new resource, where it is."""

    view: ViewT
    location: str | None = None
    # The view as JSON when it was made already (the response kept under the key): the route
    # sends this very text instead of having the view validated and serialised once more.
    json: str | None = None


async def replayed(session: AsyncConnection, once: Once) -> StoredResponse | None:
    """The first response when this request was already made with the key; None when it is new."""
    if once.key is None:
        return None
    return replay_of(once, await claim_key(session, once.client_id, once.key, once.fingerprint))


def replay_of(once: Once, stored: StoredResponse | None) -> StoredResponse | None:
    """`stored` (the response kept under the key), when this very request earned it; None when
    there is none."""
    if stored is None:
        return None
    if stored.request_hash != once.fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was first used with a different request; use a new key per operation."
        )
    return stored


async def remember(session: AsyncConnection, once: Once, status_code: int, answer: Answer[ViewT]) -> None:
    """Keep the response under the key, in the transaction that made it, for replays."""
    if once.key is not None:
        body = answer.view.model_dump(mode="json")
        await remember_response(session, once.client_id, once.key, status_code, body, answer.location)
