"""OpenAPI an integrator can rely on, one way for every service.

Routes document their own problems with `problem_response` (a description, the problem kind it
answers with and a real example detail). `document_operations` then completes every operation of
the published document the same way:

- the scope it needs (`x-required-scopes`, the security requirements' scopes, and a sentence in its
  description), read from the route's `require_scope` dependency; `x-platform-operator` where only
  a platform operator may call it;
- 401 and 403 on every operation that needs a caller;
- a real example on every problem response (the route's own, else the one of the problem kind its
  status answers with), its `type` the absolute URI of the kind's page in docs/problems.

Installed after `problems.install_problem_details` (it completes what that one publishes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi_problem.error import StatusProblem

from complaints_common import problems as p

REQUIRED_SCOPE = "required_scope"
PLATFORM_OPERATOR = "platform_operator_only"
# The kind a status answers with when a route names none; "4XX"/"5XX" are the catch-alls.
KIND_OF_STATUS: dict[str, type[StatusProblem]] = {
    "400": p.MalformedRequest,
    "401": p.Unauthorised,
    "403": p.Forbidden,
    "404": p.NotFound,
    "405": p.MethodNotAllowed,
    "409": p.Conflict,
    "413": p.PayloadTooLarge,
    "422": p.RequestValidationFailed,
    "429": p.TooManyRequests,
    "500": p.InternalError,
    "503": p.ServiceUnavailable,
    "4XX": p.HttpError,
    "5XX": p.InternalError,
}
DETAIL_OF_STATUS: dict[str, str] = {
    "400": "The request body is not well-formed JSON.",
    "401": "No valid bearer token or API key was sent.",
    "404": "Nothing with this id is visible to this caller.",
    "409": "The resource's state does not allow this.",
    "413": "The request body is larger than this service accepts.",
    "422": "1 field(s) are not valid.",
    "429": "Over this client's rate limit; retry after the time Retry-After says.",
    "503": "A dependency is restarting; retry shortly.",
    "4XX": "The request cannot be served.",
    "5XX": "An unexpected error; the trace id finds it in the logs.",
}
VALIDATION_EXAMPLE = [
    {
        "field": "body.channel",
        "loc": ["body", "channel"],
        "message": "Input should be 'phone', ...",
        "type": "literal_error",
    }
]


def problem_response(
    description: str, kind: type[StatusProblem], detail: str, **extra: Any
) -> dict[str, Any]:
    """One documented problem response (for `responses={kind.status: ...}`), with a real example:
    the kind's type, title and status, what `detail` says this time and any extension members."""
    example = {"type": kind.type_, "title": kind.title, "status": kind.status, "detail": detail, **extra}
    return {"description": description, "content": {p.PROBLEM_JSON: {"example": example}}}


def api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route of the app as it is served (prefix, methods, dependencies of the routers it
    was included with), whatever the nesting of routers."""
    for context in routing.iter_route_contexts(app.routes):
        if isinstance(context.original_route, routing.APIRoute):
            yield context


def _markers(dependant: Dependant) -> Iterator[tuple[str, Any]]:
    for dependency in dependant.dependencies:
        for marker in (REQUIRED_SCOPE, PLATFORM_OPERATOR):
            value = getattr(dependency.call, marker, None)
            if value is not None:
                yield marker, value
        yield from _markers(dependency)


def _example(
    status: str, kind: type[StatusProblem], operation: dict[str, Any], base_uri: str
) -> dict[str, Any]:
    scopes = operation.get("x-required-scopes") or []
    detail = (
        f"This operation needs the '{scopes[0]}' scope."
        if status == "403" and scopes
        else DETAIL_OF_STATUS.get(status, kind.title)
    )
    example: dict[str, Any] = {
        "type": f"{base_uri}{kind.type_}",
        "title": kind.title,
        "status": int(status) if status.isdigit() else kind.status,
        "detail": detail,
    }
    if status == "422":
        example["errors"] = VALIDATION_EXAMPLE
    return example


def document_operations(app: FastAPI, base_uri: str, challenge: str) -> None:
    """Wrap the app's OpenAPI: scopes, 401/403 and a real example on every problem response."""
    published: Callable[[], dict[str, Any]] = app.openapi

    def wrapper() -> dict[str, Any]:
        spec = published()  # FastAPI's own, cached: complete it once
        completed: object = getattr(app.state, "documented_openapi", None)
        if completed is spec:
            return spec
        for route in api_routes(app):
            markers = dict(_markers(route.dependant))
            for method in route.methods:
                operation = spec.get("paths", {}).get(route.path_format, {}).get(method.lower())
                if operation is not None:
                    _complete(operation, markers, base_uri, challenge)
        app.state.documented_openapi = spec
        return spec

    app.openapi = wrapper  # type: ignore[method-assign]


def _complete(operation: dict[str, Any], markers: dict[str, Any], base_uri: str, challenge: str) -> None:
    responses = operation.setdefault("responses", {})
    secured = operation.get("security") != []
    scope = markers.get(REQUIRED_SCOPE)
    if scope is not None:
        operation["x-required-scopes"] = [scope]
        operation["security"] = [{name: [scope] for name in req} for req in operation.get("security", [])]
        sentence = f"Needs the `{scope}` scope (an API key's scope, or a token's role that grants it)."
        operation["description"] = f"{operation.get('description', '').rstrip()}\n\n{sentence}".strip()
    if markers.get(PLATFORM_OPERATOR):
        operation["x-platform-operator"] = True
        sentence = "Only a platform operator may call it (a tenant's admin may not)."
        operation["description"] = f"{operation.get('description', '').rstrip()}\n\n{sentence}".strip()
    if secured:
        problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
        responses.setdefault(
            "401",
            {
                "description": "No valid bearer token or API key.",
                "content": {p.PROBLEM_JSON: dict(problem)},
                "headers": {
                    "WWW-Authenticate": {
                        "description": "The authentication schemes this API accepts.",
                        "schema": {"type": "string", "example": challenge},
                    }
                },
            },
        )
        responses.setdefault(
            "403",
            {
                "description": "The caller may not do this: the scope or role it needs is missing.",
                "content": {p.PROBLEM_JSON: dict(problem)},
            },
        )
    for status, response in responses.items():
        media = response.get("content", {}).get(p.PROBLEM_JSON)
        kind = KIND_OF_STATUS.get(status)
        if media is None or kind is None or "example" in media:
            continue
        media["example"] = _example(status, kind, operation, base_uri)
