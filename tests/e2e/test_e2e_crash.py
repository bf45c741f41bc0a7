"""kill -9 of consuming services in the middle of a burst: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "docs/examples/complaint.json").read_text())
COMPLAINTS = 60


async def _file_all(platform: Any, count: int) -> list[str]:
    limit = asyncio.Semaphore(8)

    async def file(i: int) -> str:
        async with limit, platform.client("intake") as intake:
            customer = {**EXAMPLE["customer"], "customer_id": f"CRASH-CUST-{i}"}
            body = {**EXAMPLE, "customer": customer, "crm_reference": f"CRASH-{i}"}
            response = await intake.post("/v1/complaints", json=body)
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

    return list(await asyncio.gather(*(file(i) for i in range(count))))


async def test_kill_9_mid_batch_loses_nothing_and_doubles_nothing(platform: Any, wait_for: Any) -> None:
    filing = asyncio.create_task(_file_all(platform, COMPLAINTS))
    await asyncio.sleep(0.5)
    platform.kill("compensation")  # mid-burst: some decisions committed, some offsets not
    await asyncio.sleep(0.3)
    platform.kill("notifications")
    ids = await filing
    platform.start("compensation")
    platform.start("notifications")
    await asyncio.gather(platform.wait_ready("compensation"), platform.wait_ready("notifications"))

    async def settled() -> bool:
        decisions = await platform.sql("SELECT count(*) AS n FROM compensation.decisions")
        sent = await platform.sql(
            "SELECT count(*) AS n FROM notifications.messages "
            "WHERE kind IN ('acknowledgement', 'compensation')"
        )
        return decisions[0]["n"] >= COMPLAINTS and sent[0]["n"] >= 2 * COMPLAINTS

    assert await wait_for(settled, timeout=60), "not every complaint was compensated and told"
    await asyncio.sleep(2)  # let any late redelivery land before counting duplicates

    decisions = await platform.sql("SELECT complaint_id::text AS id FROM compensation.decisions")
    assert sorted(r["id"] for r in decisions) == sorted(ids)
    granted = await platform.sql(
        "SELECT aggregateid, count(*) AS n FROM compensation.outbox "
        "WHERE type = 'complaints.compensation.granted.v1' GROUP BY aggregateid"
    )
    assert len(granted) == COMPLAINTS and all(r["n"] == 1 for r in granted)
    for kind in ("acknowledgement", "compensation"):
        rows = await platform.sql(
            "SELECT complaint_id::text AS id, count(*) AS n, bool_and(status = 'sent') AS sent "
            "FROM notifications.messages WHERE kind = $1 GROUP BY complaint_id",
            kind,
        )
        assert sorted(r["id"] for r in rows) == sorted(ids), kind
        assert all(r["n"] == 1 and r["sent"] for r in rows), kind
    scheduled = await platform.sql(
        "SELECT count(DISTINCT complaint_id) AS n, count(*) AS total FROM followup.followups "
        "WHERE kind = 'satisfaction_check'"
    )
    assert scheduled[0]["n"] == scheduled[0]["total"] == COMPLAINTS
