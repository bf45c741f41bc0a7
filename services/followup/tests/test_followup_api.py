"""Follow-up's REST API in-process on real PostgreSQL and Kafka, with an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4

import httpx
import pytest

from complaints_common.events.contracts import OfferKind
from complaints_common.runtime import Runtime
from complaints_devstack.factories import status_changed
from complaints_devstack.service_testing import ManualClock, bearer, running_service
from complaints_devstack.service_testing import test_settings as service_test_settings
from complaints_followup.main import build_service
from complaints_followup.settings import FollowupSettings

from .conftest import deliver, published, settled_complaint

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@dataclass
class Followup:
    client: httpx.AsyncClient
    runtime: Runtime
    clock: ManualClock

    async def settled(self, kind: OfferKind = "coupon", category: str = "billing") -> UUID:
        return await settled_complaint(self.runtime, T0, kind=kind, category=category)

    async def followups(self, complaint_id: UUID) -> list[dict[str, Any]]:
        response = await self.client.get(f"/v1/complaints/{complaint_id}/followups")
        assert response.status_code == 200, response.text
        return cast(list[dict[str, Any]], response.json())

    async def wait_fired(self, complaint_id: UUID, kind: str, attempt: int = 1) -> dict[str, Any]:
        for _ in range(200):
            for item in await self.followups(complaint_id):
                if (item["kind"], item["attempt"], item["status"]) == (kind, attempt, "fired"):
                    return item
            await asyncio.sleep(0.02)
        raise AssertionError(f"{kind} attempt {attempt} never fired")

    async def events(self, ce_type: str) -> list[dict[str, Any]]:
        return await published(self.runtime, ce_type)

    async def outcome(self, followup_id: str, **body: Any) -> httpx.Response:
        return await self.client.post(
            f"/v1/followups/{followup_id}/outcome", json=body, headers=bearer("crm-test", "agent-9", "agent")
        )


@pytest.fixture
async def followup(database_url: str, kafka_bootstrap: str, topics: str) -> AsyncIterator[Followup]:
    clock = ManualClock(T0)
    settings = service_test_settings(
        FollowupSettings,
        database_url,
        kafka_bootstrap,
        topics,
        timer_poll_interval_s=0.02,
        retry_spacing_s=86400.0,
        survey_period_s=0.0,
    )
    async with running_service(build_service(clock), settings) as (app, client):
        yield Followup(client, app.state.runtime, clock)


async def test_three_unreached_attempts_close_the_follow_up_as_unreachable(followup: Followup) -> None:
    complaint_id = await followup.settled()
    followup.clock.advance(3 * DAY)
    for attempt in (1, 2, 3):
        due = await followup.wait_fired(complaint_id, "satisfaction_check", attempt)
        response = await followup.outcome(due["id"], reached=False)
        assert response.status_code == 200, response.text
        followup.clock.advance(DAY)
    result = response.json()
    assert result["outcome"] == "unreachable" and result["next_followup"] is None
    assert [(f["attempt"], f["status"], f["outcome"]) for f in await followup.followups(complaint_id)] == [
        (1, "done", "not_reached"),
        (2, "done", "not_reached"),
        (3, "done", "unreachable"),
    ]
    outcomes = await followup.events("complaints.followup.outcome.v1")
    assert [(e["outcome"], e["attempt"]) for e in outcomes] == [
        ("not_reached", 1),
        ("not_reached", 2),
        ("unreachable", 3),
    ]
    again = await followup.outcome(due["id"], reached=False)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"


async def test_a_dissatisfied_customer_is_published_for_intake_without_the_comment(
    followup: Followup,
) -> None:
    complaint_id = await followup.settled()
    followup.clock.advance(3 * DAY)
    due = await followup.wait_fired(complaint_id, "satisfaction_check")
    response = await followup.outcome(
        due["id"], reached=True, satisfied=False, csat=1, nps=2, comment="The voucher code was refused."
    )
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "dissatisfied"
    [event] = await followup.events("complaints.followup.outcome.v1")
    assert event["outcome"] == "dissatisfied" and event["complaint_id"] == str(complaint_id)
    assert (event["csat"], event["nps"], event["recorded_by"]) == (1, 2, "agent-9")
    assert "refused" not in str(event), "the customer's comment left the service"


async def test_a_happy_customer_gets_a_review_request(followup: Followup) -> None:
    complaint_id = await followup.settled()
    followup.clock.advance(3 * DAY)
    due = await followup.wait_fired(complaint_id, "satisfaction_check")
    response = await followup.outcome(due["id"], reached=True, satisfied=True, csat=5, nps=10)
    assert response.json()["next_followup"]["kind"] == "review_request"
    followup.clock.advance(DAY)
    await followup.wait_fired(complaint_id, "review_request")
    kinds = [e["kind"] for e in await followup.events("complaints.followup.due.v1")]
    assert kinds == ["satisfaction_check", "review_request"]


async def test_an_outcome_is_recorded_when_the_agent_reaches_the_customer_before_the_check_is_due(
    followup: Followup,
) -> None:
    """Early contact is normal: the check closes unfired, and a second outcome is refused."""
    complaint_id = await followup.settled()
    [scheduled] = await followup.followups(complaint_id)
    assert scheduled["status"] == "scheduled"
    early = await followup.outcome(scheduled["id"], reached=True, satisfied=False, csat=2)
    assert early.status_code == 200, early.text
    assert early.json()["outcome"] == "dissatisfied"
    [event] = await followup.events("complaints.followup.outcome.v1")
    assert event["outcome"] == "dissatisfied"
    followup.clock.advance(7 * DAY)
    await asyncio.sleep(0.2)  # many timer polls
    assert [f["status"] for f in await followup.followups(complaint_id)] == ["done"]
    assert await followup.events("complaints.followup.due.v1") == []
    again = await followup.outcome(scheduled["id"], reached=True, satisfied=True)
    assert again.status_code == 409


async def test_an_early_unreached_call_is_retried_no_earlier_than_the_check_was_due(
    followup: Followup,
) -> None:
    complaint_id = await followup.settled()
    [scheduled] = await followup.followups(complaint_id)
    missed = await followup.outcome(scheduled["id"], reached=False)
    assert missed.status_code == 200, missed.text
    retry = missed.json()["next_followup"]
    assert retry["attempt"] == 2 and retry["due_at"] == scheduled["due_at"]


async def test_bad_outcomes_are_refused_with_a_problem(followup: Followup) -> None:
    complaint_id = await followup.settled()
    [scheduled] = await followup.followups(complaint_id)
    inconsistent = await followup.outcome(scheduled["id"], reached=False, csat=3)
    assert inconsistent.status_code == 422
    assert inconsistent.json()["type"].endswith("/request-validation-failed")
    missing = await followup.outcome(str(uuid4()), reached=False)
    assert missing.status_code == 404 and missing.json()["status"] == 404
    out_of_range = await followup.outcome(scheduled["id"], reached=True, satisfied=True, nps=11)
    assert out_of_range.status_code == 422
    anonymous = await followup.client.get(f"/v1/followups/{scheduled['id']}", headers={"X-API-Key": ""})
    assert anonymous.status_code == 401


async def test_an_agent_sets_a_manual_follow_up_that_fires_and_one_cancelled_that_never_does(
    followup: Followup,
) -> None:
    complaint_id = await followup.settled()
    body = {"due_at": (T0 + DAY).isoformat(), "team": "retention", "agent_id": "agent-5", "note": "After 5pm"}
    created = await followup.client.post(
        f"/v1/complaints/{complaint_id}/followups", json=body, headers={"Idempotency-Key": "k1"}
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/v1/followups/{created.json()['id']}"
    repeated = await followup.client.post(
        f"/v1/complaints/{complaint_id}/followups", json=body, headers={"Idempotency-Key": "k1"}
    )
    assert repeated.json()["id"] == created.json()["id"]
    other = await followup.client.post(
        f"/v1/complaints/{complaint_id}/followups", json={**body, "due_at": (T0 + 2 * DAY).isoformat()}
    )
    cancelled = await followup.client.delete(f"/v1/followups/{other.json()['id']}")
    assert cancelled.json()["status"] == "cancelled"
    unknown = await followup.client.post(f"/v1/complaints/{uuid4()}/followups", json=body)
    assert unknown.status_code == 404

    followup.clock.advance(5 * DAY)
    await followup.wait_fired(complaint_id, "manual")
    await followup.wait_fired(complaint_id, "satisfaction_check")
    await asyncio.sleep(0.1)
    fired = [(e["kind"], e["followup_id"]) for e in await followup.events("complaints.followup.due.v1")]
    assert ("manual", created.json()["id"]) in fired
    assert all(followup_id != other.json()["id"] for _, followup_id in fired)
    again = await followup.client.delete(f"/v1/followups/{created.json()['id']}")
    assert again.status_code == 409

    await deliver(followup.runtime, status_changed(complaint_id, "x", "resolved", "closed", T0 + 5 * DAY))
    # Planned times are checked against the service's clock: from now to a year ahead.
    past = await followup.client.post(f"/v1/complaints/{complaint_id}/followups", json=body)
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "body.due_at"
    later = {**body, "due_at": (T0 + 6 * DAY).isoformat()}
    closed = await followup.client.post(f"/v1/complaints/{complaint_id}/followups", json=later)
    assert closed.status_code == 409 and closed.json()["type"].endswith("/conflict")


async def test_worklist_lists_due_and_overdue_follow_ups_oldest_first_page_by_page(
    followup: Followup,
) -> None:
    complaints = []
    for day in range(5):
        complaint_id = await followup.settled()
        complaints.append(complaint_id)
        await followup.client.post(
            f"/v1/complaints/{complaint_id}/followups",
            json={
                "due_at": (T0 + day * DAY).isoformat(),
                "team": "retention",
                "agent_id": "agent-odd" if day % 2 else "agent-even",
            },
        )
    followup.clock.advance(4 * DAY + timedelta(hours=1))
    for complaint_id in complaints:
        await followup.wait_fired(complaint_id, "manual")

    pages, cursor = [], None
    while True:
        params = {"team": "retention", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await followup.client.get("/v1/worklists", params=params)).json()
        pages.append([item["complaint_id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [[str(c) for c in complaints[i : i + 2]] for i in (0, 2, 4)]

    overdue = (
        await followup.client.get("/v1/worklists", params={"team": "retention", "state": "overdue"})
    ).json()
    assert [item["complaint_id"] for item in overdue["items"]] == [str(c) for c in complaints[:4]]
    assert all(item["overdue"] for item in overdue["items"])
    mine = (await followup.client.get("/v1/worklists", params={"agent_id": "agent-odd"})).json()
    assert [item["complaint_id"] for item in mine["items"]] == [str(complaints[1]), str(complaints[3])]
    everyone = (await followup.client.get("/v1/worklists")).json()
    assert {item["kind"] for item in everyone["items"]} == {"manual", "satisfaction_check"}
    bad = await followup.client.get("/v1/worklists", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422


async def test_outcomes_are_aggregated_by_remedy_category_agent_and_period(followup: Followup) -> None:
    plan = [
        ("coupon", "billing", {"reached": True, "satisfied": True, "csat": 5, "nps": 10}),
        ("coupon", "billing", {"reached": True, "satisfied": False, "csat": 2, "nps": 3}),
        ("refund", "delivery", {"reached": True, "satisfied": True, "csat": 4, "nps": 9}),
        ("refund", "delivery", {"reached": False}),
    ]
    complaints = [await followup.settled(kind=kind, category=category) for kind, category, _ in plan]
    followup.clock.advance(3 * DAY)
    for complaint_id, (_, _, outcome) in zip(complaints, plan, strict=True):
        due = await followup.wait_fired(complaint_id, "satisfaction_check")
        assert (await followup.outcome(due["id"], **outcome)).status_code == 200

    by_remedy = (await followup.client.get("/v1/outcomes/summary", params={"group_by": "remedy"})).json()
    groups = {g["key"]["remedy"]: g for g in by_remedy["groups"]}
    assert (groups["coupon"]["satisfied"], groups["coupon"]["dissatisfied"]) == (1, 1)
    assert groups["coupon"]["csat_average"] == 3.5 and groups["coupon"]["nps"] == 0.0
    assert (groups["refund"]["not_reached"], groups["refund"]["nps"]) == (1, 100.0)

    params = [("group_by", "period"), ("group_by", "category"), ("group_by", "agent"), ("period", "day")]
    detailed = (await followup.client.get("/v1/outcomes/summary", params=params)).json()
    assert {tuple(g["key"].values()) for g in detailed["groups"]} == {
        ("2026-11-05", "billing", "agent-9"),
        ("2026-11-05", "delivery", "agent-9"),
    }
    assert sum(g["recorded"] for g in detailed["groups"]) == 4
