"""The one error format: RFC 9457 problem details (application/problem+json) for every error.

Raise one of these from a route; `install_problem_details` turns it (and every validation error,
HTTP error and unexpected exception) into a problem response.

Each kind of problem has one `type`, an absolute URI: the service's problem base URI (setting
`PROBLEM_BASE_URI`) followed by the type's name, documented at docs/problems/<name>.md. A 401 names
the authentication schemes in use in `WWW-Authenticate` (RFC 9110 §11.6.1); the schemes are data
(`AuthChallenge`), passed in by whoever knows them (complaints_common.api).
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi_problem.error import Problem, StatusProblem
from fastapi_problem.handler import ExceptionHandler, add_exception_handler, new_exception_handler
from opentelemetry import trace
from starlette.exceptions import HTTPException
from starlette.responses import Response

from complaints_common.errors import INFRASTRUCTURE_ERRORS, is_transient, safe_error

log = logging.getLogger(__name__)


DEFAULT_PROBLEM_BASE_URI = "https://complaints.example.com/problems/"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class AuthChallenge:
    """One authentication scheme a client may use, as a WWW-Authenticate challenge (RFC 9110 §11.6.1)."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        if not self.params:
            return self.scheme
        return f"{self.scheme} " + ", ".join(f'{name}="{value}"' for name, value in self.params)


def www_authenticate(challenges: Sequence[AuthChallenge]) -> str:
    return ", ".join(str(challenge) for challenge in challenges)


class MalformedRequest(StatusProblem):
    """The body is not parseable at all (not JSON): 400. Well-formed but invalid content is 422."""

    type_ = "malformed-request"
    title = "The request body is not well-formed JSON."
    status = 400


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


T = TypeVar("T")


def or_not_found(record: T | None, detail: str) -> T:
    """The record a request looked up, or a 404 saying what is missing (the caller's tenant sees
    another tenant's record as missing too)."""
    if record is None:
        raise NotFound(detail)
    return record


class MethodNotAllowed(StatusProblem):
    type_ = "method-not-allowed"
    title = "Method not allowed on this resource."
    status = 405


class HttpError(StatusProblem):
    """Any other HTTP error the framework raises (e.g. 413, 415): the status says what it is."""

    type_ = "http-error"
    title = "The request cannot be served."
    status = 400


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


class RequestValidationFailed(StatusProblem):
    """Well-formed but invalid content: each bad field is named in `errors`."""

    type_ = "request-validation-failed"
    title = "The request is not valid."
    status = 422


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
    """400 for a body that is not JSON; else 422 naming every bad field and what is wrong with it,
    without echoing the values sent."""
    raw = json.loads(json.dumps(exc.errors(), default=str))
    if any(error["type"] == "json_invalid" for error in raw):
        return MalformedRequest("The body could not be parsed as JSON; check quoting and commas.")
    errors: list[dict[str, Any]] = [
        {
            "field": ".".join(str(part) for part in error["loc"]),
            "loc": list(error["loc"]),
            "message": error["msg"],
            "type": error["type"],
        }
        for error in raw
    ]
    return RequestValidationFailed(f"{len(errors)} field(s) are not valid.", errors=errors)


# The framework's own HTTP errors (no route, wrong method...) as our problem types: one type per kind.
_HTTP_PROBLEMS: dict[int, type[StatusProblem]] = {401: Unauthorised, 404: NotFound, 405: MethodNotAllowed}


def _http_problem(_eh: ExceptionHandler, _request: Request, exc: HTTPException) -> Problem:
    kind = _HTTP_PROBLEMS.get(exc.status_code)
    headers = dict(exc.headers) if exc.headers else None
    if kind is not None:
        return kind(exc.detail, headers=headers)
    problem = HttpError(str(exc.detail), headers=headers)
    problem.status = exc.status_code
    return problem


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


def problem_schema(base_uri: str) -> dict[str, Any]:
    return {
        "title": "Problem",
        "type": "object",
        "description": f"RFC 9457 problem details; each `type` is documented at its URI ({base_uri}<name>).",
        "required": ["type", "title", "status"],
        # Extension members (RFC 9457 §3.2): `errors`, `trace_id`, or what a problem type adds.
        "additionalProperties": True,
        "properties": {
            "type": {"type": "string", "format": "uri", "examples": [base_uri + "not-found"]},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
        },
    }


def _document_problems(
    openapi: Callable[[], dict[str, Any]], base_uri: str, challenge: str
) -> Callable[[], dict[str, Any]]:
    """The published error responses as we answer them: problem+json with absolute types, 400 for a
    body that is not JSON, WWW-Authenticate on every 401."""

    def wrapper() -> dict[str, Any]:
        spec = openapi()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas["ValidationError"] = VALIDATION_ERROR_SCHEMA
        schemas["Problem"] = problem_schema(base_uri)
        problem_ref = {"$ref": "#/components/schemas/Problem"}
        for operation in (op for item in spec.get("paths", {}).values() for op in item.values()):
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation and "400" not in responses:
                responses["400"] = {
                    "description": MalformedRequest.title,
                    "content": {PROBLEM_JSON: {"schema": problem_ref}},
                }
            for status, response in responses.items():
                if status in ("4XX", "5XX"):
                    # The library's catch-all carries a placeholder example; the schema says it
                    # all (openapi.document_operations writes a real example).
                    response["content"] = {PROBLEM_JSON: {"schema": problem_ref}}
                content = response.get("content", {})
                # FastAPI's own 422 schema, under application/json: what we answer is a problem.
                if any(
                    media.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError")
                    for media in content.values()
                ):
                    content.pop("application/json", None)
                    content.setdefault(PROBLEM_JSON, {})["schema"] = problem_ref
                problem = content.get(PROBLEM_JSON)
                if problem is not None:
                    problem.setdefault("schema", problem_ref)
                    example = problem.get("example")
                    if isinstance(example, dict) and ":" not in str(example.get("type", ":")):
                        example["type"] = base_uri + example["type"]
                if status == "401":
                    response.setdefault("headers", {})["WWW-Authenticate"] = {
                        "description": "The authentication schemes this API accepts.",
                        "schema": {"type": "string", "example": challenge},
                    }
        # A webhook is answered by its receiver, not by this service: no validation error of ours.
        for operation in (op for item in spec.get("webhooks", {}).values() for op in item.values()):
            operation.get("responses", {}).pop("422", None)
        schemas.pop("HTTPValidationError", None)
        return spec

    return wrapper


def install_problem_details(
    app: FastAPI,
    base_uri: str = DEFAULT_PROBLEM_BASE_URI,
    challenges: Sequence[AuthChallenge] = (),
) -> None:
    challenge = www_authenticate(challenges)

    def authenticate_header(content: dict[str, Any], _request: Request, response: Response) -> Any:
        # Every 401, whoever raised it, names the schemes (RFC 9110 requires the header).
        if response.status_code == 401 and challenge:
            response.headers["WWW-Authenticate"] = challenge
        return content, response

    handler = new_exception_handler(
        request_validation_handler=_validation_problem,
        http_exception_handler=_http_problem,
        unhandled_wrappers={"default": InternalError},
        # The library types handlers as always answering; returning None lets the next one decide.
        handlers={Exception: _transient_problem},  # type: ignore[dict-item]
        pre_hooks=[_log_unexpected],
        post_hooks=[authenticate_header],
        documentation_uri_template=base_uri + "{type}",
    )
    add_exception_handler(app, handler)
    # Infrastructure errors are answered in the app (503 while a dependency restarts) instead of by
    # Starlette's catch-all, which re-raises after answering: uvicorn then logged a full traceback,
    # exception messages included, for every request of an outage.
    for infrastructure in INFRASTRUCTURE_ERRORS:
        app.add_exception_handler(infrastructure, handler)
    app.openapi = _document_problems(app.openapi, base_uri, challenge)  # type: ignore[method-assign]
