"""Who may call: API keys issued per CRM client (stored hashed), and a rate limit per client.

Keys come from two places: the bootstrap keys in the settings (INTAKE_API_KEYS) and the keys an
admin issued through /v1/admin/api-keys, kept in intake's database as SHA-256 digests. Every
replica reloads the issued keys at most every `api_key_refresh_s` seconds, so a revocation takes
effect everywhere within that time (at once on the replica that revoked it).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Annotated

from fastapi import Depends, Request, params
from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from complaints_common.api import Principal, current_principal
from complaints_common.problems import TooManyRequests
from complaints_common.runtime import Runtime
from complaints_common.settings import ApiKey
from complaints_intake.settings import IntakeSettings
from complaints_intake.store.keys import active_keys


class KeyRing:
    """The keys `require_scope` checks (app.state.api_keys): bootstrap keys plus issued ones."""

    def __init__(self, runtime: Runtime, settings: IntakeSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.loaded_at = -math.inf
        self._lock = asyncio.Lock()

    async def refresh(self, request: Request, *, force: bool = False) -> None:
        if not force and time.monotonic() - self.loaded_at < self.settings.api_key_refresh_s:
            return
        async with self._lock:
            if not force and time.monotonic() - self.loaded_at < self.settings.api_key_refresh_s:
                return
            async with self.runtime.db.transaction() as session:
                issued = await active_keys(session)
            request.app.state.api_keys = [
                *self.settings.api_keys,
                *(ApiKey(client=k["client_id"], sha256=k["sha256"], scopes=k["scopes"]) for k in issued),
            ]
            self.loaded_at = time.monotonic()


class RateLimit:
    """A moving-window limit per client, from the `limits` library (in-process storage by default)."""

    def __init__(self, settings: IntakeSettings) -> None:
        self.settings = settings
        self.limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage))

    async def check(self, client: str) -> None:
        rule = parse(self.settings.rate_limits.get(client, self.settings.rate_limit))
        if await self.limiter.hit(rule, "client", client):
            return
        stats = await self.limiter.get_window_stats(rule, "client", client)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(
            f"Over this client's limit of {rule}. Retry after {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


def access_guard(runtime: Runtime) -> list[params.Depends]:
    """Router dependencies, in order: fresh keys, then the caller's rate limit (before any work).

    The caller is authenticated once per request (`current_principal`), here and for the route's
    `require_scope` alike, after the keys were refreshed.
    """
    settings = runtime.settings
    assert isinstance(settings, IntakeSettings)
    ring, limit = KeyRing(runtime, settings), RateLimit(settings)
    runtime.state["key_ring"] = ring

    async def fresh_keys(request: Request) -> None:
        await ring.refresh(request)

    async def rate_limit(principal: Annotated[Principal, Depends(current_principal)]) -> None:
        await limit.check(principal.client)

    return [Depends(fresh_keys), Depends(rate_limit)]
