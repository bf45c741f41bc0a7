"""`Idempotency-Key` on POST: the same key and body replay the first response; another body is refused."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header
from fastapi.responses import JSONResponse

from complaints_intake.store.idempotency import StoredResponse

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


def replay(stored: StoredResponse) -> JSONResponse:
    """The first response given under the key, marked as a replay."""
    headers = {REPLAYED_HEADER: "true"}
    if stored.location:
        headers["Location"] = stored.location
    return JSONResponse(status_code=stored.status_code, content=stored.body, headers=headers)
