"""Intake takes complaints while the broker is away: its API process needs only its database to start
and to be ready, the worker waits for the broker without exiting, and what the API accepted into the
outbox flows once the broker is back.

A broker of its own (Tansu, on a port nothing listens on at first) so that the outage is real: the
session's broker keeps serving every other test.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from complaints_common.events.topics import COMPLAINT_CREATED
from complaints_devstack.broker import EmbeddedBroker, create_topics

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "docs/examples/complaint.json").read_text())
# Longer than the worker's first few producer retries (1, 2, 4 s): it must still be there after.
OUTAGE_S = 8.0


async def test_intake_files_a_complaint_with_no_broker_and_the_event_flows_once_it_is_back(
    intake_without_broker: tuple[Any, EmbeddedBroker], wait_for: Any
) -> None:
    stack, broker = intake_without_broker
    stack.start("intake-api")
    stack.start("intake-worker")
    await stack.wait_ready("intake-api", timeout=60)  # ready with no broker at all
    async with stack.client("intake-api") as client:
        response = await client.post("/v1/complaints", json=EXAMPLE)
        assert response.status_code == 201, response.text
        complaint_id = response.json()["id"]
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
    await asyncio.sleep(OUTAGE_S)
    worker = stack.processes["intake-worker"]
    assert worker.poll() is None, f"the worker exited: {stack.log_tail('intake-worker')}"
    async with stack.client("intake-worker") as client:
        waiting = await client.get("/readyz")
    assert waiting.status_code == 503, waiting.text
    assert "producer" in waiting.json()["detail"]
    assert await _unpublished(stack, complaint_id) == 1

    await asyncio.to_thread(broker.start)
    await create_topics(broker.bootstrap_servers)
    await stack.wait_ready("intake-worker", timeout=60)
    observer = stack.observer([COMPLAINT_CREATED.name], "outage-observer")
    await observer.start()
    try:

        async def created() -> bool:
            batch = await observer.getmany(timeout_ms=500)
            return any(r.key == complaint_id.encode() for rs in batch.values() for r in rs)

        assert await wait_for(created, timeout=60), "complaint.created never reached the broker"
    finally:
        await observer.stop()
    assert await _unpublished(stack, complaint_id) == 0


async def _unpublished(stack: Any, complaint_id: str) -> int:
    rows = await stack.sql(
        "SELECT count(*) AS n FROM intake.outbox WHERE aggregateid = $1 AND published_at IS NULL",
        complaint_id,
    )
    return int(rows[0]["n"])
