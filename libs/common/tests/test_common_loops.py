"""Background loops: a loop that fails is restarted, and a database error never quotes its values."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from complaints_common import loops, metrics
from complaints_common.db import Database

SECRET_EMAIL = "octavia.pennywhistle+loops@example.invalid"


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


@pytest.mark.integration
async def test_a_database_error_does_not_quote_the_statement_values(database_url: str) -> None:
    db = Database(database_url, pool_size=1)
    try:
        with pytest.raises(DBAPIError) as raised:
            async with db.transaction() as session:
                await session.execute(text("SELECT CAST(:email AS text), 1 / 0"), {"email": SECRET_EMAIL})
    finally:
        await db.engine.dispose()
    assert SECRET_EMAIL not in str(raised.value)
