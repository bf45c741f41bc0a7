"""Waiting in background loops: every loop sleeps until its next turn or until the service stops."""

from __future__ import annotations

import asyncio
import contextlib


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
