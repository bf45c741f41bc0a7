"""The front line's options on real PostgreSQL and Kafka: offered where an agent is on the line,
the customer's choice recorded by the authenticated agent, a proposal over them, and the lapse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from complaints_compensation.application.expiry import BATCH
from complaints_compensation.application.options import lapse_options

from .conftest import complaint
from .test_compensation_service import _decide, compensation, person

pytestmark = pytest.mark.integration
__all__ = ["compensation"]  # the fixture, shared


async def outbox_types(app: FastAPI, complaint_id: object) -> list[str]:
    async with app.state.runtime.db.transaction() as session:
        rows = await session.execute(
            text("SELECT type FROM compensation.outbox WHERE aggregateid = :c ORDER BY created_at, type"),
            {"c": str(complaint_id)},
        )
        return list(rows.scalars())


async def test_an_agent_gives_options_and_records_the_customers_choice(
    compensation: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = compensation
    data = complaint(
        category="defective", stake="60.00", tags=["industry:retail"], agent_id="agent-3", customer_id="OPT-1"
    )
    await _decide(app, data)
    assert await outbox_types(app, data.complaint_id) == ["complaints.compensation.options_offered.v1"]
    assert (await client.get(f"/v1/complaints/{data.complaint_id}/decision")).status_code == 404

    agent = person("agent-3", "agent")
    options = (await client.get(f"/v1/complaints/{data.complaint_id}/options", headers=agent)).json()
    kinds = [o["offer"]["kind"] for o in options["options"]]
    assert options["status"] == "open" and 2 <= len(kinds) <= 3 and len(set(kinds)) == len(kinds)
    assert options["options"][0]["option_id"] == "retail.defective", "the fix comes first"
    assert "refund" in kinds, "money at stake: a refund is among the options"
    assert all(o["within_your_authority"] for o in options["options"])
    assert all(Decimal(o["offer"]["value"]["amount"]) <= 100 for o in options["options"])

    url = f"/v1/complaints/{data.complaint_id}/choice"
    claimed = await client.post(url, json={"option_id": "option.refund", "chosen_by": "man-1"}, headers=agent)
    assert claimed.status_code == 422, "who records the choice is the caller, never the body"
    unknown = await client.post(url, json={"option_id": "any.critical-refund"}, headers=agent)
    assert unknown.status_code == 404
    chosen = await client.post(url, json={"option_id": "option.refund"}, headers=agent)
    assert chosen.status_code == 201, chosen.text
    decision = chosen.json()
    assert (decision["status"], decision["proposed_by"], decision["offer_rule_id"]) == (
        "granted",
        "agent-3",
        "option.refund",
    )
    assert decision["within_frontline"] and decision["offer"]["kind"] == "refund"
    again = await client.post(url, json={"option_id": "retail.defective"}, headers=agent)
    assert again.status_code == 409
    closed = (await client.get(f"/v1/complaints/{data.complaint_id}/options")).json()
    assert (closed["status"], closed["chosen_option"], closed["closed_by"]) == (
        "chosen",
        "option.refund",
        "agent-3",
    )
    assert await outbox_types(app, data.complaint_id) == [
        "complaints.compensation.options_offered.v1",
        "complaints.compensation.granted.v1",  # the chosen option's grant, alone
    ]


async def test_a_proposal_above_authority_waits_and_unchosen_options_lapse_to_the_first(
    compensation: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = compensation
    proposed_over = complaint(category="speed", stake="40.00", tags=["industry:telecom"], agent_id="agent-4")
    await _decide(app, proposed_over)
    offer = {
        "kind": "fixed_credit",
        "description": "A credit.",
        "value": {"amount": "150.00", "currency": "EUR"},
    }
    proposal = await client.post(
        f"/v1/complaints/{proposed_over.complaint_id}/proposals",
        json={"offer": offer},
        headers=person("agent-4", "agent"),
    )
    assert proposal.status_code == 201 and proposal.json()["status"] == "pending_approval"
    options = (await client.get(f"/v1/complaints/{proposed_over.complaint_id}/options")).json()
    assert options["status"] == "proposed" and options["decision_id"] == proposal.json()["id"]

    lapsing = complaint(category="speed", stake="40.00", tags=["industry:telecom"], agent_id="agent-4")
    await _decide(app, lapsing)
    async with app.state.runtime.db.transaction() as session:
        await session.execute(
            text("UPDATE compensation.option_sets SET choose_by = :t WHERE complaint_id = :c"),
            {"t": datetime.now(UTC) - timedelta(seconds=1), "c": lapsing.complaint_id},
        )
    assert await lapse_options(app.state.dependencies, BATCH) >= 1
    decision = (await client.get(f"/v1/complaints/{lapsing.complaint_id}/decision")).json()
    assert (decision["status"], decision["proposed_by"], decision["offer_rule_id"]) == (
        "granted",
        "auto",
        "telecom.speed",
    )
    assert (await client.get(f"/v1/complaints/{lapsing.complaint_id}/options")).json()["status"] == "lapsed"


async def test_without_an_agent_the_automatic_grant_stays_and_a_valued_customer_gets_more(
    compensation: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = compensation
    plain = complaint(category="anything", stake="100.00", channel="web", customer_id="VAL-1")
    gold = complaint(
        category="anything",
        stake="100.00",
        channel="web",
        customer_id="VAL-2",
        tags=["customer_since:2012-01-01"],
        customer={"customer_id": "VAL-2", "tier": "gold", "language": "ru"},
    )
    for data in (plain, gold):
        await _decide(app, data)
    first = (await client.get(f"/v1/complaints/{plain.complaint_id}/decision")).json()
    second = (await client.get(f"/v1/complaints/{gold.complaint_id}/decision")).json()
    assert first["status"] == second["status"] == "granted"
    # 25% of 100 = 25.00; gold (1.3) with over ten years (1.2): 1.56 times as much.
    assert (Decimal(first["value_amount"]), Decimal(second["value_amount"])) == (
        Decimal("25.00"),
        Decimal("39.00"),
    )
    assert second["offer"]["description"].startswith("Купон"), "the offer in the customer's language"
