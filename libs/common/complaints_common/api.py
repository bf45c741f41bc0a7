"""What every service's HTTP app shares: problem details, API-key auth, health, metrics."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from complaints_common import metrics
from complaints_common.identity import KeyLoader, KeyRing, Principal, TokenVerifier, hash_key, key_principal
from complaints_common.openapi import PLATFORM_OPERATOR, REQUIRED_SCOPE, document_operations
from complaints_common.problems import (
    AuthChallenge,
    Forbidden,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorised,
    install_problem_details,
    www_authenticate,
)
from complaints_common.settings import ServiceSettings

__all__ = [
    "API_KEY_HEADER",
    "Principal",
    "current_principal",
    "hash_key",
    "install_common",
    "platform_operator",
    "require_scope",
]

API_KEY_HEADER = "X-API-Key"
# The schemes a client may authenticate with, as every 401's WWW-Authenticate names them: a bearer
# token where the service trusts an issuer, and an API key always. Add a scheme here when the API
# accepts one more.
BEARER_CHALLENGE = AuthChallenge("Bearer", (("realm", "complaints"),))
API_KEY_CHALLENGE = AuthChallenge("ApiKey", (("header", API_KEY_HEADER),))


def auth_challenges(bearer_accepted: bool) -> tuple[AuthChallenge, ...]:
    return (BEARER_CHALLENGE, API_KEY_CHALLENGE) if bearer_accepted else (API_KEY_CHALLENGE,)


api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    auto_error=False,
    description=(
        "A CRM client's API key, for machine-to-machine calls: bound to one client (tenant), with "
        "scopes, issued and revoked through intake's /v1/admin/api-keys and honoured by every service."
    ),
)
bearer_scheme = HTTPBearer(
    scheme_name="Bearer",
    bearerFormat="JWT",
    auto_error=False,
    description=(
        "An OAuth 2.0 / OpenID Connect access token (JWT) from the tenant's identity provider: the "
        "client claim names the tenant, `sub` the person and the role claim their role."
    ),
)


async def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    presented: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """A dependency: who is calling. FastAPI runs it once per request, however many dependencies
    (a router's guard, the route's scope check) ask for it."""
    if bearer is not None:
        verifier: TokenVerifier = request.app.state.token_verifier
        return await verifier.verify(bearer.credentials)
    if presented:
        ring: KeyRing = request.app.state.key_ring
        return key_principal(await ring.current(), presented)
    raise Unauthorised(f"Send a bearer token (Authorization: Bearer ...) or an API key ({API_KEY_HEADER}).")


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller must hold `scope` (admin holds every scope of its tenant)."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if scope not in principal.scopes and "admin" not in principal.scopes:
            raise Forbidden(f"This operation needs the '{scope}' scope.")
        return principal

    setattr(dependency, REQUIRED_SCOPE, scope)  # what the OpenAPI document names for the operation
    return dependency


async def platform_operator(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """A dependency: the caller must be a platform operator (a tenant's admin is not one)."""
    if not principal.platform_operator:
        raise Forbidden("This operation spans every client: only a platform operator may do it.")
    return principal


setattr(platform_operator, PLATFORM_OPERATOR, True)


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
            "200 when the database answers and, in a worker, the broker answers, the producer is "
            "connected, every consumer has joined its group and holds partitions and the outbox relay "
            "leads or stands by. The API process does not need the broker: writes go to the outbox."
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


class BodyLimitMiddleware:
    """Refuses a request body above `limit` bytes with a 413 problem: at once when Content-Length
    says so, else as soon as the streamed body passes the limit. (Starlette's own limit answers in
    plain text, not as a problem.)"""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(f"The request body is over the limit of {self.limit} bytes.")
        length = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await problem_response(scope, receive, send, too_large)
            return
        received = 0
        started = answered = False

        async def counted() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Answer now and tell the app the client has gone: it stops reading, and
                    # whatever it still sends is dropped.
                    if not started:
                        await problem_response(scope, receive, send, too_large)
                    answered = True
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if answered:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, watched)


class ShutdownCutoffMiddleware:
    """A 503 problem for a request still running when the server's shutdown grace runs out.

    uvicorn cancels such a request's task, and a task cancelled before it answered gets uvicorn's
    own plain-text 500: a replica killed during a rebalance under load answered one. It is not a
    bug of the request, and another replica will serve it, so it is a 503 to retry (its transaction
    rolls back with the task, unless the cancellation came during the COMMIT itself, which is as
    uncertain as a lost connection; an Idempotency-Key makes the retry safe either way).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except asyncio.CancelledError:
            if started:
                raise
            # The answer ends the cancelled task's work: it returns, and the server goes on to shut down.
            shutting_down = ServiceUnavailable(
                "The service is shutting down; retry.", headers={"Retry-After": "1"}
            )
            await problem_response(scope, receive, send, shutting_down)


async def problem_response(scope: Scope, receive: Receive, send: Send, problem: Exception) -> None:
    """Answer with the app's own problem handler, from a middleware outside the app's handlers."""
    app = scope["app"]
    handler = next(app.exception_handlers[c] for c in type(problem).__mro__ if c in app.exception_handlers)
    response = handler(Request(scope, receive), problem)
    if inspect.isawaitable(response):
        response = await response
    await response(scope, receive, send)


def install_common(
    app: FastAPI,
    settings: ServiceSettings,
    checks: dict[str, ReadinessCheck],
    load_keys: KeyLoader | None = None,
) -> None:
    """Problem details for every error, bearer tokens and API keys, health and metrics routes,
    latency metrics, the body size limit."""
    app.state.token_verifier = verifier = TokenVerifier(settings)
    app.state.key_ring = KeyRing(settings.api_keys, settings.api_key_refresh_s, load_keys)
    challenges = auth_challenges(verifier.configured)
    install_problem_details(app, settings.problem_base_uri, challenges)
    document_operations(app, settings.problem_base_uri, www_authenticate(challenges))
    app.include_router(health_router(checks))
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(LatencyMiddleware, routes_of=app)
    app.add_middleware(ShutdownCutoffMiddleware)
