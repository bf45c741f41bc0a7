"""The satisfaction loop end to end: a settled complaint's call-back falls due in follow-up, the agent
records a dissatisfied customer, and intake reopens and escalates the complaint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from complaints_devstack.service_testing import bearer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "docs/examples/complaint.json").read_text())


async def test_a_dissatisfied_call_back_reopens_and_escalates_the_complaint_in_intake(
    platform: Any, wait_for: Any
) -> None:
    customer = {**EXAMPLE["customer"], "customer_id": f"LOOP-{uuid4().hex[:8]}"}
    async with platform.client("intake") as intake:
        filed = await intake.post("/v1/complaints", json={**EXAMPLE, "customer": customer})
        assert filed.status_code == 201, filed.text
        complaint_id = filed.json()["id"]
        resolved = await intake.post(
            f"/v1/complaints/{complaint_id}/transitions",
            json={"action": "resolve"},
            headers=bearer("crm-e2e", "agent-17", "agent"),
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == "resolved"

    due = await satisfaction_check_fallen_due(platform, wait_for, complaint_id)

    # The agent who made the call is the token's person, never a body field.
    async with platform.client("followup", bearer("crm-e2e", "agent-17", "agent")) as followup:
        recorded = await followup.post(
            f"/v1/followups/{due['id']}/outcome",
            json={"reached": True, "satisfied": False, "csat": 1, "nps": 0},
        )
        assert recorded.status_code == 200, recorded.text
        assert recorded.json()["outcome"] == "dissatisfied"

    async def reopened() -> dict[str, Any] | None:
        async with platform.client("intake") as intake:
            complaint = (await intake.get(f"/v1/complaints/{complaint_id}")).json()
        return complaint if complaint["escalation_level"] >= 1 else None

    complaint = await wait_for(reopened)
    assert complaint, "intake did not reopen the complaint"
    assert complaint["status"] == "in_progress" and complaint["escalation_level"] == 1
    assert complaint["reopen_count"] == 1
    # A reopened complaint keeps a running deadline, shown on the complaint.
    running = next(d for d in complaint["deadlines"] if d["name"] == "reopened_resolution")
    assert running["met_at"] is None and running["due_at"] is not None
    assert complaint["next_due_at"] is not None


async def satisfaction_check_fallen_due(platform: Any, wait_for: Any, complaint_id: str) -> dict[str, Any]:
    """The complaint's satisfaction check as follow-up lists it, once it has fallen due."""

    async def fired() -> dict[str, Any] | None:
        async with platform.client("followup") as followup:
            items = (await followup.get(f"/v1/complaints/{complaint_id}/followups")).json()
        return next((i for i in items if i["kind"] == "satisfaction_check" and i["status"] == "fired"), None)

    due: dict[str, Any] | None = await wait_for(fired)
    assert due, "the satisfaction check never fell due"
    return due
