"""Filing complaints over the API: validation, exactly-once filing, transitions and history."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from complaints_common.api import Principal
from complaints_devstack.service_testing import bearer, counted_database
from complaints_intake.api.models import ComplaintView, FileComplaint
from complaints_intake.application import filing
from complaints_intake.application.idempotency import Answer
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.store.idempotency import StoredResponse, purge_before
from complaints_intake.store.tables import complaint_history, complaints, outbox

from .conftest import draft

pytestmark = pytest.mark.integration

Intake = tuple[FastAPI, httpx.AsyncClient]


async def count(app: FastAPI, table: Any) -> int:
    async with app.state.runtime.db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def taken(sent: list[str]) -> list[str]:
    """The statements sent since the last call (the driver's logger is called soon, not at once)."""
    await asyncio.sleep(0)
    statements = list(sent)
    sent.clear()
    return statements


async def test_filing_takes_two_statements_and_a_replay_one(intake: Intake) -> None:
    app, _ = intake
    deps: IntakeDependencies = app.state.dependencies
    principal = Principal("crm-test", frozenset({"file"}))
    async with counted_database(deps.runtime.db.url) as (db, sent):
        counted = replace(deps, runtime=replace(deps.runtime, db=db))

        async def file(key: str) -> object:
            body = FileComplaint.model_validate(draft())
            path = "/v1/complaints"
            return await filing.file_complaint(counted, principal, body, key, path, ComplaintView.of)

        await file("warm-up")
        await taken(sent)
        filed = await file("counted")
        filing_statements = await taken(sent)
        replayed = await file("counted")
        replay_statements = await taken(sent)
    assert isinstance(filed, Answer) and isinstance(replayed, StoredResponse)
    assert replayed.body == filed.view.model_dump(mode="json")
    # One reads all filing decides on, one writes the complaint, history, event and key; no BEGIN/COMMIT.
    assert len(filing_statements) == 2, filing_statements
    assert len(replay_statements) == 1, replay_statements


@pytest.mark.api_only
async def test_a_filed_complaint_reads_back_as_it_was_answered(intake: Intake) -> None:
    """The answer is built from what was written, not read back: it must be what a read shows
    (the amount at the column's scale, times in UTC, the columns' defaults)."""
    _, client = intake
    body = draft(
        amount_at_stake={"amount": "39.9", "currency": "EUR"},
        occurred_at="2026-10-31T20:00:00+02:00",
        tags=["outage", "vip"],
        crm_reference="CASE-READ-BACK",
    )
    filed = await client.post("/v1/complaints", json=body, headers={"Idempotency-Key": "read-back"})
    assert filed.status_code == 201, filed.text
    read = await client.get(filed.headers["location"])
    assert read.json() == filed.json()
    assert filed.json()["amount_at_stake"]["amount"] == "39.90"


@pytest.mark.parametrize("key", [None, "sent-as-kept"])
async def test_the_answer_is_the_json_fastapi_sends_for_the_view(intake: Intake, key: str | None) -> None:
    """The route sends the view's JSON made once (with a key, the text kept for replays): byte for
    byte what FastAPI's serialisation of the response model sends for a read of it."""
    _, client = intake
    headers = {"Idempotency-Key": key} if key else {}
    filed = await client.post("/v1/complaints", json=draft(), headers=headers)
    assert filed.status_code == 201, filed.text
    assert filed.headers["content-type"] == "application/json"
    read = await client.get(filed.headers["location"])
    assert filed.content == read.content
    if key:
        replayed = await client.post("/v1/complaints", json=draft(), headers=headers)
        assert replayed.json() == filed.json()


@pytest.mark.api_only
async def test_a_bad_complaint_is_refused_naming_each_bad_field(intake: Intake) -> None:
    _, client = intake
    body = draft(channel="pigeon", severity="apocalyptic", description="")
    body["customer"] = {**body["customer"], "email": "not-an-address"}
    response = await client.post("/v1/complaints", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"body.channel", "body.severity", "body.description", "body.customer.email"}


async def test_a_retried_post_files_one_complaint(intake: Intake) -> None:
    app, client = intake
    headers = {"Idempotency-Key": "retry-1"}
    first = await client.post("/v1/complaints", json=draft(), headers=headers)
    again = await client.post("/v1/complaints", json=draft(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(app, complaints) == 1
    assert await count(app, outbox) == 1


# With a CRM reference the duplicates collide on it as well as on the key: still the first's answer.
@pytest.mark.parametrize("crm_reference", [None, "CASE-BURST"])
@pytest.mark.api_only
async def test_concurrent_duplicates_file_one_complaint(intake: Intake, crm_reference: str | None) -> None:
    app, client = intake
    headers = {"Idempotency-Key": "burst-1"}
    body = draft(crm_reference=crm_reference) if crm_reference else draft()
    responses = await asyncio.gather(
        *(client.post("/v1/complaints", json=body, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(app, complaints) == 1


async def test_a_reused_key_with_another_body_is_refused(intake: Intake) -> None:
    _, client = intake
    headers = {"Idempotency-Key": "reused"}
    assert (await client.post("/v1/complaints", json=draft(), headers=headers)).status_code == 201
    other = await client.post("/v1/complaints", json=draft(category="delivery"), headers=headers)
    assert other.status_code == 422
    assert other.json()["type"].endswith("idempotency-key-reused")


async def test_a_reference_collision_files_again_under_a_new_reference(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = intake
    references = iter(["C26-SAME0000", "C26-SAME0000", "C26-OTHER000"])
    monkeypatch.setattr(filing, "reference_for", lambda *_: next(references))
    first = await client.post("/v1/complaints", json=draft())
    second = await client.post("/v1/complaints", json=draft())
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert (first.json()["reference"], second.json()["reference"]) == ("C26-SAME0000", "C26-OTHER000")
    assert await count(app, outbox) == 2, "the failed attempt published nothing"


@pytest.mark.api_only
async def test_a_crm_reference_is_unique_per_client(intake: Intake) -> None:
    _, client = intake
    assert (await client.post("/v1/complaints", json=draft(crm_reference="CASE-9"))).status_code == 201
    first = (await client.get("/v1/complaints", params={"crm_reference": "CASE-9"})).json()["items"][0]
    again = await client.post("/v1/complaints", json=draft(crm_reference="CASE-9"))
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    # A CRM that lost the first response learns which complaint has its reference, and where.
    assert again.json()["complaint_id"] == first["id"]
    assert again.json()["complaint_url"] == f"/v1/complaints/{first['id']}"
    assert (await client.get(again.json()["complaint_url"])).json()["crm_reference"] == "CASE-9"


async def test_transitions_are_audited_and_published(intake: Intake) -> None:
    app, client = intake
    complaint = (await client.post("/v1/complaints", json=draft())).json()
    url = f"/v1/complaints/{complaint['id']}"
    steps = [
        {"action": "acknowledge"},
        {"action": "start"},
        {"action": "pause", "reason": "awaiting_documents", "note": "Asked for the October invoice."},
        {"action": "resume", "reason": "documents_received"},
        {"action": "escalate", "reason": "vip_customer"},
        {"action": "resolve", "reason": "refund_issued", "root_cause": "process"},
        {"action": "close"},
        {"action": "reopen", "reason": "customer_called_back"},
    ]
    claimed = await client.post(f"{url}/transitions", json={"action": "acknowledge", "actor": "boss"})
    assert claimed.status_code == 422, "who acts is authenticated, never named in the body"
    agent = bearer("crm-test", "agent-17", "agent")
    for number, step in enumerate(steps):
        response = await client.post(f"{url}/transitions", json=step, headers=agent if number == 0 else {})
        assert response.status_code == 200, response.text
    final = response.json()
    assert final["status"] == "in_progress"
    assert final["escalation_level"] == 1 and final["reopen_count"] == 1
    assert final["acknowledged_at"] and final["resolved_at"] and final["closed_at"]

    history = (await client.get(f"{url}/history")).json()["entries"]
    assert [e["action"] for e in history] == ["file"] + [s["action"] for s in steps]
    assert history[1]["actor"] == "agent-17" and history[2]["actor"].startswith("api-key:")
    assert history[3]["note"] == "Asked for the October invoice."
    assert [(e["from_status"], e["to_status"]) for e in history[-2:]] == [
        ("resolved", "closed"),
        ("closed", "in_progress"),
    ]
    # created + 6 status changes/escalations + 2 clock changes.
    assert await count(app, outbox) == 1 + 6 + 2
    assert await count(app, complaint_history) == 1 + len(steps)


@pytest.mark.api_only
async def test_an_illegal_transition_is_refused_and_changes_nothing(intake: Intake) -> None:
    _, client = intake
    complaint = (await client.post("/v1/complaints", json=draft())).json()
    url = f"/v1/complaints/{complaint['id']}"
    refused = await client.post(f"{url}/transitions", json={"action": "close"})
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("illegal-transition")
    assert "received" in refused.json()["detail"]
    assert (await client.get(url)).json()["status"] == "received"
    assert len((await client.get(f"{url}/history")).json()["entries"]) == 1


@pytest.mark.api_only
async def test_a_missing_complaint_is_a_404_problem(intake: Intake) -> None:
    _, client = intake
    response = await client.get("/v1/complaints/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.api_only
async def test_keys_past_their_retention_are_forgotten(intake: Intake) -> None:
    app, client = intake
    headers = {"Idempotency-Key": "old-key"}
    first = await client.post("/v1/complaints", json=draft(), headers=headers)
    async with app.state.runtime.db.transaction() as session:
        assert await purge_before(session, datetime.now(UTC) + timedelta(hours=1)) == 1
    later = await client.post("/v1/complaints", json=draft(), headers=headers)
    assert later.status_code == 201 and "idempotent-replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
