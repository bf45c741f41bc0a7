"""OpenAPI for errors: every problem response documented with its schema and an example."""

from __future__ import annotations

from typing import Any

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    # Extension members (RFC 9457 §3.2), e.g. the complaint a 409 points at.
    "additionalProperties": True,
    "properties": {
        "type": {"type": "string", "description": "What kind of problem; stable, for code to branch on."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong this time, for a person."},
        "errors": {
            "type": "array",
            "description": "For invalid requests: each bad field and what is wrong with it.",
            "items": {"type": "object"},
        },
    },
}


def problem(description: str, status: int, type_: str, detail: str, **extra: Any) -> dict[str, Any]:
    """One documented problem response."""
    example = {"type": type_, "title": description, "status": status, "detail": detail, **extra}
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA, "example": example}},
    }


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: problem("No valid bearer token or API key.", 401, "unauthorised", "The API key is not valid."),
    403: problem(
        "The key lacks the scope this operation needs.",
        403,
        "forbidden",
        "This operation needs the 'manage' scope.",
    ),
    422: problem(
        "A field is not valid; `errors` names each one.",
        422,
        "request-validation-failed",
        "1 field(s) are not valid.",
        errors=[
            {
                "field": "body.channel",
                "loc": ["body", "channel"],
                "message": "Input should be 'phone', ...",
                "type": "literal_error",
            }
        ],
    ),
    429: {
        **problem(
            "Over the client's rate limit; wait as Retry-After says.",
            429,
            "too-many-requests",
            "Over this client's limit of 1000 per 1 second. Retry after 1 s.",
        ),
        "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
    },
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: problem("No such complaint visible to this key.", 404, "not-found", "No complaint with this id.")
}
