"""Background loops: a loop that fails is restarted until the service stops."""

from __future__ import annotations

import asyncio

import pytest

from complaints_common import loops, metrics


async def test_a_loop_that_fails_is_restarted_until_the_service_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loops, "RESTART_PAUSE_S", 0.01)
    stop = asyncio.Event()
    runs: list[int] = []

    async def relay(stop: asyncio.Event) -> None:
        runs.append(len(runs) + 1)
        if len(runs) < 3:
            raise RuntimeError("connection in a state nobody expected")
        await stop.wait()

    before = metrics.BACKGROUND_LOOP_RESTARTS.labels("relay")._value.get()
    task = asyncio.create_task(loops.supervise("relay", relay, stop))
    while len(runs) < 3:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)

    assert runs == [1, 2, 3]
    assert metrics.BACKGROUND_LOOP_RESTARTS.labels("relay")._value.get() - before == 2


async def test_a_loop_that_returns_after_stop_is_not_restarted() -> None:
    stop = asyncio.Event()
    runs = 0

    async def worker(stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        stop.set()

    await asyncio.wait_for(loops.supervise("worker", worker, stop), 5)
    assert runs == 1
