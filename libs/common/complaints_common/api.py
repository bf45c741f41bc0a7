"""What every service's HTTP app shares: problem details, API-key auth, health, metrics."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from complaints_common import metrics
from complaints_common.problems import (
    DEFAULT_PROBLEM_BASE_URI,
    AuthChallenge,
    Forbidden,
    ServiceUnavailable,
    Unauthorised,
    install_problem_details,
)
from complaints_common.settings import ApiKey

API_KEY_HEADER = "X-API-Key"
# The schemes a client may authenticate with, named by WWW-Authenticate on every 401: add a scheme
# here when the API accepts one more.
AUTH_CHALLENGES: tuple[AuthChallenge, ...] = (AuthChallenge("ApiKey", (("header", API_KEY_HEADER),)),)
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="The CRM client's API key. Keys are issued per client and carry scopes.",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the CRM client a key belongs to, and what it may do."""

    client: str
    scopes: frozenset[str]


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def authenticate(keys: list[ApiKey], presented: str | None) -> Principal:
    """Compare digests in constant time, against every key, so timing says nothing."""
    if not presented:
        raise Unauthorised(f"Send your API key in the {API_KEY_HEADER} header.")
    digest = hash_key(presented)
    match = None
    for key in keys:
        if hmac.compare_digest(digest, key.sha256):
            match = key
    if match is None:
        raise Unauthorised("The API key is not valid.")
    return Principal(match.client, frozenset(match.scopes))


async def current_principal(
    request: Request, presented: Annotated[str | None, Depends(api_key_scheme)]
) -> Principal:
    """A dependency: who is calling. FastAPI runs it once per request, however many dependencies
    (a router's guard, the route's scope check) ask for it."""
    return authenticate(request.app.state.api_keys, presented)


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller must hold `scope` (admin holds every scope)."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if scope not in principal.scopes and "admin" not in principal.scopes:
            raise Forbidden(f"This operation needs the '{scope}' scope.")
        return principal

    return dependency


ReadinessCheck = Callable[[], Awaitable[None]]
NO_AUTH: dict[str, Any] = {"security": []}
READINESS_CHECK_TIMEOUT_S = 2.0


class NotReady(Exception):
    """Raised by a readiness check that answers but is not ready yet; its message says why
    (component states, never data), and /readyz passes it on."""


def health_router(checks: dict[str, ReadinessCheck]) -> APIRouter:
    router = APIRouter(tags=["health"])

    # Probes and scrapes carry no credentials: documented as needing none.
    @router.get("/healthz", summary="Liveness: the process is up.", openapi_extra=NO_AUTH)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: the dependencies answer; a worker's consumers hold their partitions.",
        description=(
            "200 when the database and the broker answer and, in a worker, every consumer has joined "
            "its group and holds partitions and the outbox relay leads or stands by."
        ),
        responses={503: {"description": "A dependency does not answer, or a worker is not ready yet."}},
        openapi_extra=NO_AUTH,
    )
    async def readyz() -> dict[str, Any]:
        failed = []
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=READINESS_CHECK_TIMEOUT_S)
            except NotReady as exc:
                failed.append(f"{name} ({exc})")
            except Exception:
                failed.append(f"{name} (not reachable)")
        if failed:
            raise ServiceUnavailable(f"Not ready: {'; '.join(failed)}.")
        return {"status": "ready", "checks": sorted(checks)}

    @router.get("/metrics", summary="Prometheus metrics.", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


UNMATCHED_ROUTE = "unmatched"


def _route_template(app: ASGIApp, scope: Scope) -> str:
    """The matched route's template, not the raw path, so complaint ids do not explode the label's
    cardinality. FastAPI's routes record themselves in the scope; the framework's own (the OpenAPI
    document, the docs pages) do not, so they are matched here. A path no route matches is labelled
    `unmatched`, which no template (they all start with "/") can be."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", UNMATCHED_ROUTE))
    for candidate in getattr(app, "routes", ()):
        match, _ = candidate.matches(scope)
        if match is not Match.NONE:  # PARTIAL: the path is a route, the method is not allowed
            return str(getattr(candidate, "path", UNMATCHED_ROUTE))
    return UNMATCHED_ROUTE


class LatencyMiddleware:
    """Records every request's latency by route; plain ASGI, so it costs next to nothing."""

    def __init__(self, app: ASGIApp, routes_of: ASGIApp) -> None:
        self.app = app
        # The application whose routes name the label (the middleware wraps it, so it cannot ask).
        self.routes_of = routes_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe_status)
        finally:
            route = _route_template(self.routes_of, scope)
            metrics.HTTP_REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )


def install_common(
    app: FastAPI,
    keys: list[ApiKey],
    checks: dict[str, ReadinessCheck],
    problem_base_uri: str = DEFAULT_PROBLEM_BASE_URI,
) -> None:
    """Problem details for every error, the API keys, health and metrics routes, latency metrics."""
    app.state.api_keys = keys
    install_problem_details(app, problem_base_uri, AUTH_CHALLENGES)
    app.include_router(health_router(checks))
    app.add_middleware(LatencyMiddleware, routes_of=app)
