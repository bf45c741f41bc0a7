"""The timer loop: fires due timers as `followup.due` (complaints_followup.application.timers).

A full batch polls again at once, so timers missed during downtime are caught up in due order
without one giant transaction.
"""

from __future__ import annotations

import asyncio
import math
import time

from opentelemetry.instrumentation.utils import suppress_instrumentation

from complaints_common.loops import BackgroundLoop, every, periodically
from complaints_followup.application.timers import count_timers, fire_due_timers
from complaints_followup.dependencies import FollowupDependencies

CENSUS_INTERVAL_S = 10.0


def timer_loop(deps: FollowupDependencies) -> BackgroundLoop:
    batch = deps.settings.timer_batch_size
    last_census = -math.inf

    async def turn() -> bool:
        nonlocal last_census
        with suppress_instrumentation():  # polling is not part of any journey
            claimed = await fire_due_timers(deps, batch)
            if time.monotonic() - last_census >= CENSUS_INTERVAL_S:
                await count_timers(deps, deps.clock())
                last_census = time.monotonic()
        return claimed >= batch

    async def run(stop: asyncio.Event) -> None:
        await periodically(stop, "timers", turn, every(deps.settings.timer_poll_interval_s))

    return run
