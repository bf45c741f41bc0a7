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


async def test_a_periodic_worker_waits_out_a_transient_error_and_goes_on() -> None:
    stop = asyncio.Event()
    turns: list[str] = []
    waits = 0

    async def turn() -> bool:
        turns.append("turn")
        if len(turns) == 1:
            raise ConnectionRefusedError("the database is restarting")
        if len(turns) == 3:
            stop.set()
        return len(turns) == 2  # the second turn left a full batch behind: no wait before the third

    async def wait(stop: asyncio.Event) -> None:
        nonlocal waits
        waits += 1

    await asyncio.wait_for(loops.periodically(stop, "expiry", turn, wait), 5)
    assert turns == ["turn", "turn", "turn"]
    assert waits == 2  # after the outage and after the last, idle turn


async def test_a_periodic_worker_lets_a_bug_reach_the_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loops, "RESTART_PAUSE_S", 0.01)
    stop = asyncio.Event()
    turns = 0

    async def turn() -> bool:
        nonlocal turns
        turns += 1
        if turns == 1:
            raise KeyError("voucher_status")  # a bug: must not be retried silently inside the loop
        stop.set()
        return False

    async def expiry(stop: asyncio.Event) -> None:
        await loops.periodically(stop, "expiry", turn, loops.every(0))

    before = metrics.BACKGROUND_LOOP_RESTARTS.labels("expiry")._value.get()
    await asyncio.wait_for(loops.supervise("expiry", expiry, stop), 5)
    assert turns == 2
    assert metrics.BACKGROUND_LOOP_RESTARTS.labels("expiry")._value.get() - before == 1
