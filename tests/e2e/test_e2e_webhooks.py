"""Pushes to a CRM end to end, on the four services as subprocesses: the CRM's admin subscribes an
endpoint through notifications' API, receives a signed test delivery, then, as a complaint is filed,
granted, resolved and its satisfaction call-back recorded, exactly the push types it chose, each
verified with the `standardwebhooks` library."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from standardwebhooks.webhooks import Webhook

from complaints_devstack.ports import free_port
from complaints_devstack.service_testing import bearer

from .test_e2e_followup_outcome import satisfaction_check_fallen_due

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "docs/examples/complaint.json").read_text())
ADMIN = bearer("crm-e2e", "admin-1", "admin")
AGENT = bearer("crm-e2e", "agent-17", "agent")
CHOSEN = {"webhook.test", "compensation.granted", "complaint.status_changed", "followup.outcome"}


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """The CRM's endpoint: records every delivery and answers 204."""
    received: list[tuple[dict[str, str], bytes]] = []
    app = FastAPI()

    @app.post("/hooks")
    async def hooks(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/hooks", received
    finally:
        server.should_exit = True
        await task


async def test_a_crm_subscribed_through_the_api_is_pushed_what_it_chose_signed(
    platform: Any, wait_for: Any, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    async with platform.client("notifications", ADMIN) as notifications:
        created = await notifications.post(
            "/v1/webhooks", json={"url": url, "event_types": sorted(CHOSEN - {"webhook.test"})}
        )
        assert created.status_code == 201, created.text
        secret, subscription_id = created.json()["secret"], created.json()["id"]
        assert (await notifications.post(f"/v1/webhooks/{subscription_id}/test")).status_code == 202

    def pushed() -> list[dict[str, Any]]:
        return [Webhook(secret).verify(body, headers) for headers, body in received]

    async def tested() -> list[dict[str, Any]] | None:
        return pushed() or None

    first = await wait_for(tested)
    assert first and first[0]["type"] == "webhook.test"

    customer = {**EXAMPLE["customer"], "customer_id": f"PUSH-{uuid4().hex[:8]}"}
    # Filed by the CRM's key, no agent on the line: the grant is automatic (a person filing by phone
    # would be offered the customer's options instead).
    async with platform.client("intake") as intake:
        body = {key: value for key, value in EXAMPLE.items() if key != "agent_id"}
        filed = await intake.post("/v1/complaints", json={**body, "customer": customer})
        assert filed.status_code == 201, filed.text
        complaint_id = filed.json()["id"]

        async def granted_and_acknowledged() -> bool:
            types = {p["type"] for p in pushed()}
            return {"compensation.granted", "complaint.status_changed"} <= types

        assert await wait_for(granted_and_acknowledged), [p["type"] for p in pushed()]
        resolved = await intake.post(
            f"/v1/complaints/{complaint_id}/transitions", json={"action": "resolve"}, headers=AGENT
        )
        assert resolved.status_code == 200, resolved.text

    due = await satisfaction_check_fallen_due(platform, wait_for, complaint_id)
    async with platform.client("followup", AGENT) as followup:
        recorded = await followup.post(
            f"/v1/followups/{due['id']}/outcome",
            json={"reached": True, "satisfied": False, "csat": 1, "nps": 0},
        )
        assert recorded.status_code == 200, recorded.text

    def of_complaint(push_type: str) -> list[dict[str, Any]]:
        return [
            p["data"]
            for p in pushed()
            if p["type"] == push_type and p["data"]["complaint_id"] == complaint_id
        ]

    async def reopened_pushed() -> bool:
        return bool(of_complaint("followup.outcome")) and any(
            change["reopened"] for change in of_complaint("complaint.status_changed")
        )

    assert await wait_for(reopened_pushed), [p["type"] for p in pushed()]
    assert {p["type"] for p in pushed()} <= CHOSEN, "a push type the subscription did not choose arrived"
    assert of_complaint("compensation.granted")[0]["status"] == "granted"
    assert of_complaint("followup.outcome")[0]["outcome"] == "dissatisfied"
    moves = {change["to_status"] for change in of_complaint("complaint.status_changed")}
    assert {"acknowledged", "resolved", "in_progress"} <= moves, moves
    assert all(customer["email"].encode() not in body for _, body in received)
    ids = [headers["webhook-id"] for headers, _ in received]
    assert len(ids) == len(set(ids)), "a push was delivered twice"
