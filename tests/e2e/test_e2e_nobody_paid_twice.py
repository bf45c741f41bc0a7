"""Service recovery's guard against abuse, through the running services: intake links a duplicate
and flags a customer on `complaint.created`, and compensation acts on it (nobody paid twice, the
flagged not rewarded automatically)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from complaints_devstack.service_testing import bearer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "docs/examples/complaint.json").read_text())


def draft(customer_id: str, **fields: Any) -> dict[str, Any]:
    return {
        **EXAMPLE,
        "customer": {**EXAMPLE["customer"], "customer_id": customer_id},
        "crm_reference": None,
    } | fields


async def decision_of(platform: Any, wait_for: Any, complaint_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        async with platform.client("compensation") as compensation:
            answer = await compensation.get(f"/v1/complaints/{complaint_id}/decision")
        return answer.json() if answer.status_code == 200 else None

    decision = await wait_for(probe)
    assert decision, f"compensation never decided complaint {complaint_id}"
    return dict(decision)


async def test_a_complaint_and_its_duplicate_a_second_apart_get_one_grant(
    platform: Any, wait_for: Any
) -> None:
    customer = f"TWICE-{uuid4().hex[:8]}"
    async with platform.client("intake") as intake:
        first = await intake.post("/v1/complaints", json=draft(customer))
        await asyncio.sleep(1)
        second = await intake.post("/v1/complaints", json=draft(customer))
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert second.json()["repeat_of"] == first.json()["id"]
    assert second.json()["repeat_kind"] == "duplicate"

    original = await decision_of(platform, wait_for, first.json()["id"])
    duplicate = await decision_of(platform, wait_for, second.json()["id"])
    assert original["status"] == "granted"
    assert (duplicate["status"], duplicate["rule_id"]) == ("refused", "abuse.duplicate-complaint")
    assert first.json()["id"] in duplicate["reason"]
    async with platform.client("compensation") as compensation:
        granted = (
            await compensation.get("/v1/decisions", params={"customer_id": customer, "status": "granted"})
        ).json()
    assert [d["complaint_id"] for d in granted["items"]] == [first.json()["id"]]

    # The one grant clawed back later: on the complaint's journey and in its history, who and why.
    supervisor = bearer("crm-e2e", "sup-3", "supervisor")
    async with platform.client("compensation", supervisor) as compensation:
        clawed = await compensation.post(
            f"/v1/decisions/{original['id']}/clawback", json={"reason": "claimed twice by phone"}
        )
    assert clawed.status_code == 200, clawed.text

    async def clawback_shown() -> dict[str, Any] | None:
        async with platform.client("intake") as intake:
            complaint = (await intake.get(f"/v1/complaints/{first.json()['id']}")).json()
        step = complaint["journey"]["compensation"]
        return step if step and step["voucher"] == "clawed_back" else None

    step = await wait_for(clawback_shown)
    assert step, "the clawback never reached the complaint's journey"
    assert step["decision_id"] == original["id"] and step["status"] == "granted"
    assert (step["voucher_changed_by"], step["voucher_reason"]) == ("sup-3", "claimed twice by phone")
    async with platform.client("intake") as intake:
        history = (await intake.get(f"/v1/complaints/{first.json()['id']}/history")).json()["entries"]
    clawback = [e for e in history if e["action"] == "compensation_clawed_back"]
    assert [(e["actor"], e["note"]) for e in clawback] == [("sup-3", "claimed twice by phone")]


async def test_a_flagged_customers_complaint_waits_for_approval(platform: Any, wait_for: Any) -> None:
    """Three critical complaints in the window flag the customer `repeated_extreme`: the third's
    grant is held for a supervisor, who can grant it."""
    customer = f"FLAG-{uuid4().hex[:8]}"
    filed = []
    async with platform.client("intake") as intake:
        for category in ("billing", "delivery", "service"):  # different matters: not duplicates
            answer = await intake.post(
                "/v1/complaints", json=draft(customer, category=category, product=None, severity="critical")
            )
            assert answer.status_code == 201, answer.text
            filed.append(answer.json()["id"])
        listed = (await intake.get(f"/v1/customers/{customer}/complaints")).json()
    assert listed["flags"] == ["repeated_extreme"]

    earlier = [await decision_of(platform, wait_for, complaint_id) for complaint_id in filed[:2]]
    assert [d["status"] for d in earlier] == ["granted", "granted"]
    held = await decision_of(platform, wait_for, filed[2])
    assert (held["status"], held["rule_id"]) == ("held", "abuse.customer-flagged")
    assert "repeated_extreme" in held["reason"]

    supervisor = bearer("crm-e2e", "sup-3", "supervisor")
    async with platform.client("compensation", supervisor) as compensation:
        waiting = (await compensation.get("/v1/approvals")).json()
        assert held["id"] in [d["id"] for d in waiting["items"]]
        approved = await compensation.post(f"/v1/decisions/{held['id']}/approve", json={})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "granted" and approved.json()["granted_by"] == "sup-3"
