"""Intake's shared problem responses (the rate limit's 429 with Retry-After, a complaint's 404),
documented the one way every service does (complaints_common.openapi)."""

from __future__ import annotations

from typing import Any

from complaints_common.openapi import problem_response
from complaints_common.problems import NotFound, TooManyRequests

# 401, 403 (naming the operation's scope) and 422 are documented for every operation by
# complaints_common.openapi; the rate limit is intake's own.
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        **problem_response(
            "Over the client's rate limit; wait as Retry-After says.",
            TooManyRequests,
            "Over this client's limit of 1000 per 1 second. Retry after 1 s.",
        ),
        "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
    },
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: problem_response("No such complaint visible to this key.", NotFound, "No complaint with this id.")
}
