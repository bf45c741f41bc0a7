"""The regulatory letters as lifecycle actions, through the API on a real database: the holding
response that extends the payment-services deadline, the summary resolution window, and the final
response refused when its required content is missing in the customer's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from complaints_intake.domain.deadlines import BusinessClock, shipped_rules
from complaints_intake.store.tables import complaint_history, complaints, letters, outbox

from .conftest import draft

pytestmark = pytest.mark.integration

Intake = tuple[FastAPI, httpx.AsyncClient]
LETTER_ISSUED = "complaints.complaint.letter_issued.v1"


def due_of(complaint: dict[str, Any], name: str) -> datetime:
    return datetime.fromisoformat(next(d["due_at"] for d in complaint["deadlines"] if d["name"] == name))


async def choose(client: httpx.AsyncClient, profile: str) -> None:
    response = await client.put("/v1/deadline-profiles/selection", json={"profile": profile})
    assert response.status_code == 200, response.text


async def test_a_holding_response_moves_the_payment_services_deadline_to_35_business_days(
    intake: Intake,
) -> None:
    app, client = intake
    await choose(client, "uk-payment-services")
    filed = (await client.post("/v1/complaints", json=draft())).json()
    url = f"/v1/complaints/{filed['id']}"
    received = datetime.fromisoformat(filed["filed_at"])
    clock = BusinessClock(shipped_rules().calendars["GB-EAW"])
    assert due_of(filed, "final_response") == clock.close_after(received, 15)

    # Other actions leave it at 15; a holding response needs its reasons.
    started = (await client.post(f"{url}/transitions", json={"action": "start"})).json()
    assert due_of(started, "final_response") == clock.close_after(received, 15)
    bare = await client.post(f"{url}/transitions", json={"action": "holding_response"})
    assert bare.status_code == 422

    reasons = "We are waiting for the card scheme's chargeback records."
    holding = await client.post(
        f"{url}/transitions",
        json={"action": "holding_response", "explanation": reasons},
    )
    assert holding.status_code == 200, holding.text
    held = holding.json()
    assert held["status"] == "in_progress"
    assert due_of(held, "final_response") == clock.close_after(received, 35)

    async with app.state.runtime.db.transaction() as session:
        audit = (
            await session.execute(
                select(complaint_history.c.action, complaint_history.c.actor).where(
                    complaint_history.c.complaint_id == filed["id"]
                )
            )
        ).all()
        letter = (await session.execute(select(letters).where(letters.c.complaint_id == filed["id"]))).one()
        event = (await session.execute(select(outbox.c.payload).where(outbox.c.type == LETTER_ISSUED))).one()
    assert "holding_response" in [a.action for a in audit] and all(a.actor for a in audit)
    assert (letter.kind, letter.explanation, letter.regime) == ("holding_response", reasons, "uk-fca")
    assert datetime.fromisoformat(event.payload["respond_by"]) == due_of(held, "final_response")
    assert "Financial Ombudsman Service" in event.payload["required_content"][0]


async def test_summary_resolution_is_offered_only_within_three_business_days(intake: Intake) -> None:
    app, client = intake
    await choose(client, "uk-fca-disp")
    early, late = [(await client.post("/v1/complaints", json=draft())).json() for _ in range(2)]
    assert "summary_resolution" in early["allowed_actions"]

    # Time passing, without waiting for it: the late one's window closed an hour ago.
    past = datetime.now(UTC) - timedelta(hours=1)
    stored = [
        {**d, "due_at": past.isoformat()} if d["name"] == "summary_resolution" else d
        for d in late["deadlines"]
    ]
    async with app.state.runtime.db.transaction() as session:
        await session.execute(
            update(complaints).where(complaints.c.id == late["id"]).values(deadlines=stored)
        )
    late_now = (await client.get(f"/v1/complaints/{late['id']}")).json()
    assert "summary_resolution" not in late_now["allowed_actions"]
    refused = await client.post(
        f"/v1/complaints/{late['id']}/transitions", json={"action": "summary_resolution"}
    )
    assert refused.status_code == 409 and "third business day" in refused.json()["detail"]

    resolved = await client.post(
        f"/v1/complaints/{early['id']}/transitions", json={"action": "summary_resolution"}
    )
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["status"] == "resolved"
    summary = next(d for d in body["deadlines"] if d["name"] == "summary_resolution")
    assert summary["met_at"] is not None and summary["kind"] == "statutory"


async def test_a_final_response_without_the_ombudsman_wording_is_refused_before_sending(
    intake: Intake,
) -> None:
    app, client = intake
    await choose(client, "uk-fca-disp")
    customer = {**draft()["customer"], "language": "fa"}
    filed = (await client.post("/v1/complaints", json=draft(customer=customer))).json()
    url = f"/v1/complaints/{filed['id']}/transitions"
    refused = await client.post(url, json={"action": "final_response", "outcome": "rejected"})
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/letter-incomplete")
    assert refused.json()["missing"] == ["fos_right_to_refer", "fos_time_limit", "fos_contact"]
    no_outcome = await client.post(url, json={"action": "final_response"})
    assert no_outcome.status_code == 422
    async with app.state.runtime.db.transaction() as session:
        sent = (await session.execute(select(outbox.c.type).where(outbox.c.type == LETTER_ISSUED))).all()
    assert sent == []
    assert (await client.get(f"/v1/complaints/{filed['id']}")).json()["status"] == "received"
