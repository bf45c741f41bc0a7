"""Waiting in background loops: every loop sleeps until its next turn or until the service stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from complaints_common import metrics

log = logging.getLogger(__name__)

BackgroundLoop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
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
