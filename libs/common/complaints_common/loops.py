"""Background loops: one periodic worker shape, the waits between turns, and the supervisor.

Every loop a worker runs (relay, consumers, timers, deliveries, expiry, housekeeping) runs under
`supervise`. The periodic ones are written with `periodically`: a transient error (a restarting
database or broker) is waited out inside the loop, every other error reaches the supervisor, which
logs it, counts it in `background_loop_restarts_total` and restarts the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from complaints_common import metrics
from complaints_common.errors import is_transient, safe_error

log = logging.getLogger(__name__)

BackgroundLoop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
# One turn of a periodic worker; True when it left work behind (a full batch), so the next turn
# should come at once rather than after the interval.
Turn = Callable[[], Awaitable[bool]]
Wait = Callable[[asyncio.Event], Awaitable[None]]
RESTART_PAUSE_S = 1.0
RESTART_PAUSE_MAX_S = 30.0


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def wait_for_wake(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Wait for a wake-up (a LISTEN/NOTIFY callback sets `wake`), a stop, or the poll interval,
    whichever comes first; clearing `wake` is the caller's choice of moment."""
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def periodically(stop: asyncio.Event, name: str, turn: Turn, wait: Wait) -> None:
    """Run `turn` until `stop` is set, waiting with `wait` after every turn that left nothing behind.

    Only transient errors are handled here (logged, then waited out like an idle turn): a bug must
    not be retried forever in silence, so it propagates to `supervise`.
    """
    while not stop.is_set():
        try:
            more = await turn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("background loop waits out an outage", extra={"loop": name, "error": safe_error(exc)})
            more = False
        if not more:
            await wait(stop)


def every(seconds: Callable[[], float] | float) -> Wait:
    """A `Wait` of a fixed interval (or one read from settings at each wait)."""

    async def wait(stop: asyncio.Event) -> None:
        await sleep_or_stop(stop, seconds() if callable(seconds) else seconds)

    return wait


async def supervise(name: str, loop: BackgroundLoop, stop: asyncio.Event) -> None:
    """Run `loop` until `stop` is set, restarting it after any error it did not handle itself.

    A loop that died would leave the service answering /readyz while its relay or consumer no
    longer ran: complaints would wait in the outbox or on the topic until somebody restarted it.
    """
    pause = RESTART_PAUSE_S
    while not stop.is_set():
        try:
            await loop(stop)
        except Exception:
            log.exception("background loop failed; restarting it", extra={"loop": name})
            metrics.BACKGROUND_LOOP_RESTARTS.labels(name).inc()
            await sleep_or_stop(stop, pause)
            pause = min(pause * 2, RESTART_PAUSE_MAX_S)
        else:
            return  # a loop returns only once `stop` is set
