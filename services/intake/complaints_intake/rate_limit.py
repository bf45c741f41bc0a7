"""A rate limit per CRM client, checked after the caller is authenticated (api/access.py)."""

from __future__ import annotations

import math
import time

from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from complaints_common.problems import TooManyRequests
from complaints_intake.settings import IntakeSettings


class RateLimit:
    """A moving-window limit per client, from the `limits` library (in-process storage by default)."""

    def __init__(self, settings: IntakeSettings) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage))
        # Parsed once, not per request: the settings hold for the process's life.
        self.default = parse(settings.rate_limit)
        self.per_client = {client: parse(rule) for client, rule in settings.rate_limits.items()}

    async def check(self, client: str) -> None:
        rule = self.per_client.get(client, self.default)
        if await self.limiter.hit(rule, "client", client):
            return
        stats = await self.limiter.get_window_stats(rule, "client", client)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(
            f"Over this client's limit of {rule}. Retry after {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )
