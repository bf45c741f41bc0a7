"""Abusive conduct towards staff: an agent flags it, the complaint moves to a supervisor, and it
shows on the customer's history and in the insights (intake on real PostgreSQL and Kafka)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from complaints_devstack.service_testing import bearer

from .conftest import draft

pytestmark = pytest.mark.integration


async def test_an_agent_flags_abusive_conduct_and_a_supervisor_takes_the_complaint(
    intake: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = intake
    customer = {**draft()["customer"], "customer_id": "ABUSE-1"}
    filed = (await client.post("/v1/complaints", json=draft(customer=customer))).json()
    other = (await client.post("/v1/complaints", json=draft(customer=customer))).json()
    url = f"/v1/complaints/{filed['id']}/abusive-conduct"

    by_key = await client.post(url, json={})
    assert by_key.status_code == 403, "an API key acts for nobody: a person flags it"
    claimed = await client.post(url, json={"flagged_by": "agent-5"}, headers=bearer("crm-test", "agent-5"))
    assert claimed.status_code == 422, "who flags it is the token's person, never the body's claim"
    blank = await client.post(url, json={"note": "   "}, headers=bearer("crm-test", "agent-5"))
    assert blank.status_code == 422, "a note says something or is left out"
    flagged = await client.post(
        url, json={"note": "Swore at me twice."}, headers=bearer("crm-test", "agent-5")
    )
    assert flagged.status_code == 200, flagged.text
    body = flagged.json()
    assert body["escalation_level"] == 1 and body["abusive_conduct_at"]
    again = await client.post(url, json={}, headers=bearer("crm-test", "agent-6"))
    assert again.status_code == 409
    elsewhere = await client.post(url, json={}, headers=bearer("crm-other", "agent-9"))
    assert elsewhere.status_code == 404, "another client's complaint is missing to them"

    history = (await client.get(f"/v1/complaints/{filed['id']}/history")).json()["entries"]
    last = history[-1]
    assert (last["action"], last["actor"], last["reason"], last["note"]) == (
        "escalate",
        "agent-5",
        "abusive_conduct",
        "Swore at me twice.",
    )
    mine = (await client.get("/v1/customers/ABUSE-1/complaints")).json()
    assert "abusive_conduct" in mine["flags"]
    marked = {item["id"]: item["abusive_conduct_at"] for item in mine["items"]}
    assert marked[filed["id"]] and marked[other["id"]] is None
    assert (await client.get("/v1/insights")).json()["abusive_conduct"] == 1

    async with app.state.runtime.db.transaction() as session:
        reasons = (
            await session.execute(
                text(
                    "SELECT payload->>'reason' FROM intake.outbox "
                    "WHERE aggregateid = :c AND type = 'complaints.complaint.status_changed.v1'"
                ),
                {"c": filed["id"]},
            )
        ).scalars()
        assert list(reasons) == ["abusive_conduct"], "published, so notifications names a supervisor"
