"""What the other services say back shows on the complaint, and a dissatisfied customer reopens it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from complaints_common.events import contracts as c
from complaints_common.events.envelope import (
    COMPENSATION_DECISION_RECORDED_V1,
    COMPENSATION_GRANTED_V1,
    FOLLOWUP_DUE_V1,
    FOLLOWUP_OUTCOME_V1,
    NOTIFICATION_STATUS_V1,
    Event,
    EventContract,
)
from complaints_devstack.factories import publish
from complaints_intake.api.models import EXAMPLE_DRAFT

pytestmark = pytest.mark.integration

Intake = tuple[FastAPI, httpx.AsyncClient]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EUR = c.Money(amount=Decimal("25.00"), currency="EUR")
OFFER = c.Offer(kind="coupon", description="A month free", value=EUR, cost=EUR)


async def send(bootstrap: str, prefix: str, contract: EventContract[Any], data: c.EventData) -> None:
    await publish(bootstrap, prefix, Event(contract, data, "/complaints/test"))


async def eventually(
    client: httpx.AsyncClient, url: str, check: Any, timeout: float = 20.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = (await client.get(url)).json()
        if check(body) or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.2)


async def test_the_journey_and_a_dissatisfied_follow_up(
    intake: Intake, kafka_bootstrap: str, topics: str
) -> None:
    _, client = intake
    complaint = (await client.post("/v1/complaints", json={**EXAMPLE_DRAFT, "crm_reference": None})).json()
    cid, url = UUID(complaint["id"]), f"/v1/complaints/{complaint['id']}"
    followup_id = uuid4()

    await send(
        kafka_bootstrap,
        topics,
        NOTIFICATION_STATUS_V1,
        c.NotificationStatusV1(
            complaint_id=cid,
            message_id=uuid4(),
            kind="acknowledgement",
            channel="email",
            status="sent",
            at=NOW,
        ),
    )
    await send(
        kafka_bootstrap,
        topics,
        COMPENSATION_DECISION_RECORDED_V1,
        c.CompensationDecisionRecordedV1(
            complaint_id=cid,
            decision_id=uuid4(),
            customer_id="CUST-1042",
            status="pending_approval",
            offer=OFFER,
            rule_id="r1",
            policy_version="1",
            decided_by="auto",
            decided_at=NOW,
        ),
    )
    await send(
        kafka_bootstrap,
        topics,
        COMPENSATION_GRANTED_V1,
        c.CompensationGrantedV1(
            complaint_id=cid,
            decision_id=uuid4(),
            customer_id="CUST-1042",
            offer=OFFER,
            rule_id="r1",
            policy_version="1",
            granted_by="sup-1",
            granted_at=NOW + timedelta(minutes=5),
        ),
    )
    await send(
        kafka_bootstrap,
        topics,
        FOLLOWUP_DUE_V1,
        c.FollowupDueV1(
            complaint_id=cid,
            followup_id=followup_id,
            customer_id="CUST-1042",
            kind="satisfaction_check",
            due_at=NOW + timedelta(days=3),
            fired_at=NOW + timedelta(days=3),
        ),
    )
    seen = await eventually(
        client,
        url,
        lambda b: (
            b["journey"]["followup"]
            and b["journey"]["compensation"]
            and b["journey"]["compensation"]["status"] == "granted"
            and b["journey"]["acknowledgement_sent_at"]
        ),
    )
    assert seen["status"] == "acknowledged"
    assert seen["journey"]["compensation"]["value"] == {"amount": "25.00", "currency": "EUR"}
    assert seen["journey"]["followup"]["status"] == "scheduled"

    await send(
        kafka_bootstrap,
        topics,
        FOLLOWUP_OUTCOME_V1,
        c.FollowupOutcomeV1(
            complaint_id=cid,
            followup_id=followup_id,
            customer_id="CUST-1042",
            outcome="dissatisfied",
            csat=1,
            recorded_by="agent-3",
            recorded_at=NOW + timedelta(days=3, hours=1),
        ),
    )
    reopened = await eventually(client, url, lambda b: b["escalation_level"] == 1)
    assert reopened["journey"]["followup"]["outcome"] == "dissatisfied"
    assert reopened["escalation_level"] == 1 and reopened["status"] == "acknowledged"
    history = (await client.get(f"{url}/history")).json()["entries"]
    assert history[0]["actor"].startswith("api-key:"), "filed by the authenticated key"
    assert [(e["action"], e["actor"]) for e in history[1:]] == [
        ("acknowledge", "notifications"),
        ("escalate", "followup"),
    ]
