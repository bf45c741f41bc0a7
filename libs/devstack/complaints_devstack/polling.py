"""Waiting for something to become true, for tests and benchmarks: the one way to poll.

`eventually` hands back the probe's last answer (the test asserts on it, with its own message);
`until` raises when the condition does not hold in time, naming what it waited for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for the polling, not for one await
    interval: float = 0.2,
) -> T:
    """Poll an async probe until it returns something truthy, or the timeout passes; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(interval)


async def until(
    condition: Callable[[], Awaitable[object]],
    what: str,
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for the polling, not for one await
    interval: float = 0.05,
    check: Callable[[], None] = lambda: None,
) -> None:
    """Poll until `condition` holds; AssertionError naming `what` after timeout. `check` runs on
    every turn, so a background task that died fails the wait at once rather than at the timeout."""
    deadline = time.monotonic() + timeout
    while not await condition():
        check()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


def until_sync(
    condition: Callable[[], object], what: str, timeout: float = 60.0, interval: float = 0.2
) -> None:
    """`until` for code without an event loop (benchmark set-up); TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout} s")
        time.sleep(interval)
