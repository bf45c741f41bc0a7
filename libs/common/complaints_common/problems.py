"""The one error format: RFC 9457 problem details (application/problem+json) for every error.

Raise one of these from a route; `install_problem_details` turns it (and every validation error,
HTTP error and unexpected exception) into a problem response.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi_problem.error import Problem, StatusProblem
from fastapi_problem.handler import ExceptionHandler, add_exception_handler, new_exception_handler
from opentelemetry import trace
from starlette.exceptions import HTTPException

from complaints_common.errors import INFRASTRUCTURE_ERRORS, is_transient, safe_error

log = logging.getLogger(__name__)


class Unauthorised(StatusProblem):
    type_ = "unauthorised"
    title = "Authentication required."
    status = 401


class Forbidden(StatusProblem):
    type_ = "forbidden"
    title = "Not allowed."
    status = 403


class NotFound(StatusProblem):
    type_ = "not-found"
    title = "Not found."
    status = 404


class Conflict(StatusProblem):
    type_ = "conflict"
    title = "Conflict with the current state."
    status = 409


class Unprocessable(StatusProblem):
    type_ = "unprocessable"
    title = "The request cannot be processed."
    status = 422


class PayloadTooLarge(StatusProblem):
    type_ = "payload-too-large"
    title = "The request body is too large."
    status = 413


class TooManyRequests(StatusProblem):
    type_ = "too-many-requests"
    title = "Too many requests."
    status = 429


class ServiceUnavailable(StatusProblem):
    type_ = "service-unavailable"
    title = "Service not ready."
    status = 503


class InternalError(StatusProblem):
    """What a caller sees of an unexpected error: never its message (it may hold SQL and its data)."""

    type_ = "internal-error"
    title = "Internal error."
    status = 500

    def __init__(self, _detail: str | None = None, **_: Any) -> None:
        ctx = trace.get_current_span().get_span_context()
        super().__init__(
            "The error was logged; quote the trace id when you report it.",
            trace_id=f"{ctx.trace_id:032x}" if ctx.is_valid else None,
        )


def _log_unexpected(request: Request, exc: Exception) -> None:
    """Log an unexpected error with where it happened, never what it says: the frames of its
    traceback without the exception's message, which may quote SQL values or request data."""
    if not isinstance(exc, Problem | HTTPException | RequestValidationError) and not is_transient(exc):
        log.error(
            "unhandled error",
            extra={
                "error": safe_error(exc),
                "method": request.method,
                "route": request.url.path,
                "stack": "".join(traceback.format_tb(exc.__traceback__)),
            },
        )


def _validation_problem(_eh: ExceptionHandler, _request: Request, exc: RequestValidationError) -> Problem:
    """Name every bad field and say what is wrong with it, without echoing the values sent."""
    errors: list[dict[str, Any]] = [
        {
            "field": ".".join(str(part) for part in error["loc"]),
            "loc": list(error["loc"]),
            "message": error["msg"],
            "type": error["type"],
        }
        for error in json.loads(json.dumps(exc.errors(), default=str))
    ]
    return Problem(
        title="The request is not valid.",
        type_="request-validation-failed",
        status=422,
        detail=f"{len(errors)} field(s) are not valid.",
        errors=errors,
    )


def _transient_problem(_eh: ExceptionHandler, _request: Request, exc: Exception) -> Problem | None:
    """A database or broker that is restarting is a 503 to retry, not a 500 to report."""
    if is_transient(exc):
        return ServiceUnavailable("A dependency is restarting; retry shortly.", headers={"Retry-After": "2"})
    return None


VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ValidationError",
    "type": "object",
    "required": ["field", "loc", "message", "type"],
    "properties": {
        "field": {
            "type": "string",
            "description": "Where the error is, dotted.",
            "examples": ["body.channel"],
        },
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "message": {"type": "string", "examples": ["Input should be 'phone', 'email' or 'chat'"]},
        "type": {"type": "string", "examples": ["literal_error"]},
    },
}


def _document_problems(openapi: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Make the published 422 schema the one we answer with (field names, no echoed values)."""

    def wrapper() -> dict[str, Any]:
        spec = openapi()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas["ValidationError"] = VALIDATION_ERROR_SCHEMA
        if "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"].setdefault("properties", {})["detail"] = {"type": "string"}
        return spec

    return wrapper


def install_problem_details(app: FastAPI) -> None:
    handler = new_exception_handler(
        request_validation_handler=_validation_problem,
        unhandled_wrappers={"default": InternalError},
        # The library types handlers as always answering; returning None lets the next one decide.
        handlers={Exception: _transient_problem},  # type: ignore[dict-item]
        pre_hooks=[_log_unexpected],
    )
    add_exception_handler(app, handler)
    # Infrastructure errors are answered in the app (503 while a dependency restarts) instead of by
    # Starlette's catch-all, which re-raises after answering: uvicorn then logged a full traceback,
    # exception messages included, for every request of an outage.
    for infrastructure in INFRASTRUCTURE_ERRORS:
        app.add_exception_handler(infrastructure, handler)
    app.openapi = _document_problems(app.openapi)  # type: ignore[method-assign]
