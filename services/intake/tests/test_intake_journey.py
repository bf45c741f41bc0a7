"""What the other services say back shows on the complaint, and a dissatisfied customer reopens it;
and the statements each event costs (issue 14: fewer round trips per complaint), with what they
leave behind: the journey, the lifecycle, the audit and the events."""

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
from sqlalchemy import select

from complaints_common.events import contracts as c
from complaints_common.events.envelope import (
    COMPENSATION_DECISION_RECORDED_V1,
    COMPENSATION_GRANTED_V1,
    COMPENSATION_OPTIONS_OFFERED_V1,
    COMPLAINT_STATUS_CHANGED_V1,
    FOLLOWUP_DUE_V1,
    FOLLOWUP_OUTCOME_V1,
    NOTIFICATION_STATUS_V1,
    VOUCHER_CHANGED_V1,
    Event,
    EventContract,
)
from complaints_devstack.factories import options_offered, publish
from complaints_devstack.service_testing import counted_delivery
from complaints_intake.api.models import EXAMPLE_DRAFT
from complaints_intake.main import SERVICE
from complaints_intake.store.tables import granted_compensation, outbox

from .conftest import draft

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


def acknowledgement(cid: UUID, kind: str = "acknowledgement") -> c.NotificationStatusV1:
    return c.NotificationStatusV1(
        complaint_id=cid, message_id=uuid4(), kind=kind, channel="email", status="sent", at=NOW
    )


def decided(cid: UUID, status: c.DecisionStatus, decision_id: UUID) -> c.CompensationDecisionRecordedV1:
    return c.CompensationDecisionRecordedV1(
        complaint_id=cid,
        decision_id=decision_id,
        customer_id="CUST-1042",
        status=status,
        offer=OFFER,
        rule_id="r1",
        policy_version="1",
        decided_by="auto",
        decided_at=NOW,
    )


def granted(cid: UUID, decision_id: UUID, at: datetime) -> c.CompensationGrantedV1:
    return c.CompensationGrantedV1(
        complaint_id=cid,
        decision_id=decision_id,
        customer_id="CUST-1042",
        offer=OFFER,
        rule_id="r1",
        policy_version="1",
        granted_by="sup-1",
        granted_at=at,
    )


def followup_due(cid: UUID, followup_id: UUID) -> c.FollowupDueV1:
    return c.FollowupDueV1(
        complaint_id=cid,
        followup_id=followup_id,
        customer_id="CUST-1042",
        kind="satisfaction_check",
        due_at=NOW + timedelta(days=3),
        fired_at=NOW + timedelta(days=3),
    )


def dissatisfied(cid: UUID, followup_id: UUID) -> c.FollowupOutcomeV1:
    return c.FollowupOutcomeV1(
        complaint_id=cid,
        followup_id=followup_id,
        customer_id="CUST-1042",
        outcome="dissatisfied",
        csat=1,
        recorded_by="agent-3",
        recorded_at=NOW + timedelta(days=3, hours=1),
    )


async def test_the_journey_and_a_dissatisfied_follow_up(
    intake: Intake, kafka_bootstrap: str, topics: str
) -> None:
    _, client = intake
    complaint = (await client.post("/v1/complaints", json={**EXAMPLE_DRAFT, "crm_reference": None})).json()
    cid, url = UUID(complaint["id"]), f"/v1/complaints/{complaint['id']}"
    followup_id = uuid4()

    await send(kafka_bootstrap, topics, NOTIFICATION_STATUS_V1, acknowledgement(cid))
    await send(
        kafka_bootstrap, topics, COMPENSATION_DECISION_RECORDED_V1, decided(cid, "pending_approval", uuid4())
    )
    await send(
        kafka_bootstrap, topics, COMPENSATION_GRANTED_V1, granted(cid, uuid4(), NOW + timedelta(minutes=5))
    )
    await send(kafka_bootstrap, topics, FOLLOWUP_DUE_V1, followup_due(cid, followup_id))
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

    await send(kafka_bootstrap, topics, FOLLOWUP_OUTCOME_V1, dissatisfied(cid, followup_id))
    reopened = await eventually(client, url, lambda b: b["escalation_level"] == 1)
    assert reopened["journey"]["followup"]["outcome"] == "dissatisfied"
    assert reopened["escalation_level"] == 1 and reopened["status"] == "acknowledged"
    history = (await client.get(f"{url}/history")).json()["entries"]
    assert history[0]["actor"].startswith("api-key:"), "filed by the authenticated key"
    assert [(e["action"], e["actor"]) for e in history[1:]] == [
        ("acknowledge", "notifications"),
        ("escalate", "followup"),
    ]


deliver = counted_delivery(SERVICE)


async def handle(app: FastAPI, contract: EventContract[Any], data: c.EventData) -> list[str]:
    """Intake's handler of `data` in its inbox transaction, as the consumer runs it; the statements
    the handler sent."""
    return await deliver(app.state.runtime, Event(contract, data, "/complaints/test"))


async def test_each_event_costs_few_statements_and_does_what_it_did(intake: Intake) -> None:
    app, client = intake
    filed = (await client.post("/v1/complaints", json=draft())).json()
    cid, url = UUID(filed["id"]), f"/v1/complaints/{filed['id']}"
    decision_id = uuid4()
    clawback = c.VoucherChangedV1(
        complaint_id=cid,
        decision_id=decision_id,
        change="clawed_back",
        changed_by="sup-1",
        changed_at=NOW + timedelta(hours=1),
        reason="sent twice",
    )
    counts = {
        # Not the acknowledgement: nothing on the journey, nothing read.
        "notification.status (other kind)": len(
            await handle(app, NOTIFICATION_STATUS_V1, acknowledgement(cid, kind="compensation"))
        ),
        # The acknowledgement: the journey, and the complaint acknowledged (audited, its due times
        # met, published).
        "notification.status (acknowledgement)": len(
            await handle(app, NOTIFICATION_STATUS_V1, acknowledgement(cid))
        ),
        # A decision that waits is recorded; its approval is announced by the grant alone.
        "compensation.decided (pending_approval)": len(
            await handle(
                app, COMPENSATION_DECISION_RECORDED_V1, decided(cid, "pending_approval", decision_id)
            )
        ),
        "compensation.granted": len(
            await handle(app, COMPENSATION_GRANTED_V1, granted(cid, decision_id, NOW + timedelta(minutes=5)))
        ),
        "voucher.changed (clawed back)": len(await handle(app, VOUCHER_CHANGED_V1, clawback)),
        "followup.due": len(await handle(app, FOLLOWUP_DUE_V1, followup_due(cid, uuid4()))),
    }
    assert (await client.post(f"{url}/transitions", json={"action": "resolve"})).is_success
    counts["followup.outcome (dissatisfied: reopen, escalate)"] = len(
        await handle(app, FOLLOWUP_OUTCOME_V1, dissatisfied(cid, uuid4()))
    )

    # One narrow read of the complaint, locked, and one write of the journey per step (with the
    # grant, or with the first lifecycle change the step moves on); per lifecycle change the audit
    # so far (for its due times), the change with its audit row and due times, and its event.
    assert counts == {
        "notification.status (other kind)": 0,
        "notification.status (acknowledgement)": 4,
        "compensation.decided (pending_approval)": 2,
        "compensation.granted": 2,
        "voucher.changed (clawed back)": 3,
        "followup.due": 2,
        "followup.outcome (dissatisfied: reopen, escalate)": 7,
    }

    complaint = (await client.get(url)).json()
    assert complaint["status"] == "in_progress" and complaint["escalation_level"] == 1
    assert complaint["acknowledged_at"] is not None and complaint["resolved_at"] is not None
    journey = complaint["journey"]
    assert journey["acknowledgement_sent_at"] is not None
    assert journey["compensation"]["status"] == "granted"
    assert journey["compensation"]["voucher"] == "clawed_back"
    assert journey["followup"]["outcome"] == "dissatisfied"
    deadlines = {d["name"]: d for d in complaint["deadlines"]}
    assert deadlines["acknowledge"]["met_at"] is not None, "the acknowledgement met its due time"
    assert deadlines["final_response"]["met_at"] is not None, "met by the resolution"
    assert "reopened_resolution" in deadlines, "the reopen runs a deadline of its own"
    history = (await client.get(f"{url}/history")).json()["entries"]
    assert [(e["action"], e["actor"], e["from_status"], e["to_status"]) for e in history[1:]] == [
        ("acknowledge", "notifications", "received", "acknowledged"),
        ("compensation_clawed_back", "sup-1", None, None),
        ("resolve", history[3]["actor"], "acknowledged", "resolved"),  # by the API key
        ("reopen", "followup", "resolved", "in_progress"),
        ("escalate", "followup", "in_progress", "in_progress"),
    ]
    async with app.state.runtime.db.transaction() as session:
        types = (
            (
                await session.execute(
                    select(outbox.c.type).where(outbox.c.aggregateid == str(cid)).order_by(outbox.c.seq)
                )
            )
            .scalars()
            .all()
        )
        grants = (await session.execute(select(granted_compensation.c.decision_id))).scalars().all()
    assert types[1:] == [COMPLAINT_STATUS_CHANGED_V1.ce_type] * 4, (
        "acknowledged, resolved, reopened, escalated"
    )
    assert grants == [decision_id]


def two_options(cid: UUID) -> c.CompensationOptionsOfferedV1:
    refund = OFFER.model_copy(update={"kind": "refund"})
    return options_offered(cid, [("a", OFFER), ("b", refund)], NOW, customer_id="CUST-1042").data


async def test_a_step_that_changes_nothing_writes_nothing(intake: Intake) -> None:
    app, client = intake
    filed = (await client.post("/v1/complaints", json=draft())).json()
    cid = UUID(filed["id"])
    offered = two_options(cid)
    assert len(await handle(app, COMPENSATION_OPTIONS_OFFERED_V1, offered)) == 2
    late_copy = offered.model_copy(update={"offered_at": NOW + timedelta(minutes=1)})
    assert len(await handle(app, COMPENSATION_OPTIONS_OFFERED_V1, late_copy)) == 1, "read, not written"
    journey = (await client.get(f"/v1/complaints/{cid}")).json()["journey"]
    assert journey["compensation_options"]["offered_at"].startswith("2026-11-23T12:00:00")
    unknown = acknowledgement(uuid4())
    assert len(await handle(app, NOTIFICATION_STATUS_V1, unknown)) == 1, "a complaint not held here"


async def test_a_grant_alone_reads_back_as_its_grant_and_decision_record_did(intake: Intake) -> None:
    """A grant is announced by compensation.granted alone. What a CRM reads back (the complaint's
    journey, its options settled, its history, the grant kept for the return) is what the grant
    and its decision record (status granted, published beside it before) made, in either order."""
    app, client = intake
    journeys, histories = [], []
    for announced in ("alone", "record first", "record after"):
        filed = (await client.post("/v1/complaints", json=draft())).json()
        cid, decision_id = UUID(filed["id"]), uuid4()
        await handle(app, COMPENSATION_OPTIONS_OFFERED_V1, two_options(cid))
        grant = granted(cid, decision_id, NOW).model_copy(update={"rule_id": "b"})
        record = decided(cid, "granted", decision_id).model_copy(
            update={"rule_id": "b", "decided_by": "sup-1"}
        )
        if announced == "record first":
            await handle(app, COMPENSATION_DECISION_RECORDED_V1, record)
        await handle(app, COMPENSATION_GRANTED_V1, grant)
        if announced == "record after":
            await handle(app, COMPENSATION_DECISION_RECORDED_V1, record)
        complaint = (await client.get(f"/v1/complaints/{cid}")).json()
        step = complaint["journey"]["compensation"]
        assert (step["status"], step["decision_id"], step["kind"]) == ("granted", str(decision_id), "coupon")
        assert step["value"] == {"amount": "25.00", "currency": "EUR"}
        journeys.append(complaint["journey"] | {"compensation": step | {"decision_id": None}})
        history = (await client.get(f"/v1/complaints/{cid}/history")).json()["entries"]
        histories.append([(e["action"], e["actor"]) for e in history[1:]])
        async with app.state.runtime.db.transaction() as session:
            grants = await session.scalars(
                select(granted_compensation.c.decision_id).where(granted_compensation.c.complaint_id == cid)
            )
            assert list(grants) == [decision_id], "the grant kept once for the complaints return"
    assert journeys[0]["compensation_options"]["status"] == "settled"
    assert journeys[0]["compensation_options"]["chosen"] == "b"
    assert journeys[0] == journeys[1] == journeys[2]
    assert histories[0] == histories[1] == histories[2] == []
