"""Due times on the complaint: computed at filing, recomputed on pause and resume, listed when due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from complaints_devstack.service_testing import bearer
from complaints_intake.store.tables import complaints, deadline_settings, outbox

from .conftest import draft

pytestmark = pytest.mark.integration

Intake = tuple[FastAPI, httpx.AsyncClient]


def by_name(complaint: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in complaint["deadlines"]}


@pytest.mark.api_only
async def test_the_person_who_chose_the_deadline_profiles_is_recorded(intake: Intake) -> None:
    app, client = intake
    chosen = {"profile": "uk-fca-disp"}
    manager = bearer("crm-test", "manager-3", "manager")
    assert (await client.put("/v1/deadline-profiles/selection", json=chosen, headers=manager)).is_success
    async with app.state.runtime.db.transaction() as session:
        chosen_by = (await session.execute(select(deadline_settings.c.updated_by))).scalars().all()
    assert chosen_by == ["manager-3"], "the audit names who chose, not only the client"


async def test_due_times_follow_the_clock(intake: Intake) -> None:
    app, client = intake
    chosen = {"categories": {"payments": {"profile": "uk-payment-services"}}}
    assert (await client.put("/v1/deadline-profiles/selection", json=chosen)).status_code == 200
    filed = (await client.post("/v1/complaints", json=draft(category="payments"))).json()
    url = f"/v1/complaints/{filed['id']}"
    assert filed["deadline_profile"] == "uk-payment-services"
    assert filed["deadline_profile_reason"] == "set by the client for this category"
    assert (filed["calendar"], filed["calendar_reason"]) == ("GB-EAW", "the profile's calendar")
    deadlines = by_name(filed)
    assert set(deadlines) == {"acknowledge", "summary_resolution", "final_response", "service_level"}
    assert deadlines["final_response"]["kind"] == "statutory"
    assert deadlines["service_level"]["kind"] == "operational"
    statutory_due = deadlines["final_response"]["due_at"]
    first_due = datetime.fromisoformat(deadlines["service_level"]["due_at"])

    await client.post(f"{url}/transitions", json={"action": "acknowledge"})
    paused = (await client.post(f"{url}/transitions", json={"action": "pause"})).json()
    assert by_name(paused)["service_level"]["due_at"] is None
    assert by_name(paused)["service_level"]["paused"] is True
    assert by_name(paused)["final_response"]["due_at"] == statutory_due
    assert by_name(paused)["acknowledge"]["met_at"] is not None
    resumed = (await client.post(f"{url}/transitions", json={"action": "resume"})).json()
    assert datetime.fromisoformat(by_name(resumed)["service_level"]["due_at"]) >= first_due
    assert by_name(resumed)["final_response"]["due_at"] == statutory_due

    async with app.state.runtime.db.transaction() as session:
        types = (await session.execute(select(outbox.c.type, outbox.c.payload).order_by(outbox.c.seq))).all()
    created = types[0].payload
    assert [(d["name"], d["kind"]) for d in created["deadlines"]] == [
        ("acknowledge", "operational"),
        ("summary_resolution", "statutory"),
        ("final_response", "statutory"),
        ("service_level", "operational"),
    ]
    clock_events = [t for t in types if t.type == "complaints.complaint.deadlines_changed.v1"]
    assert [e.payload["deadlines"][3]["paused"] for e in clock_events] == [True, False]
    assert [e.payload["deadlines"][2]["due_at"] for e in clock_events] == [statutory_due] * 2


async def test_overdue_and_due_soon_lists(intake: Intake) -> None:
    app, client = intake
    late = (await client.post("/v1/complaints", json=draft())).json()
    soon = (await client.post("/v1/complaints", json=draft())).json()
    async with app.state.runtime.db.transaction() as session:
        # Time passing, without waiting for it: the late one's earliest due time is an hour ago.
        await session.execute(
            update(complaints)
            .where(complaints.c.id == late["id"])
            .values(next_due_at=datetime.now(UTC) - timedelta(hours=1))
        )
    overdue = (await client.get("/v1/complaints", params={"overdue": "true"})).json()["items"]
    assert [c["id"] for c in overdue] == [late["id"]]
    due_soon = (await client.get("/v1/complaints", params={"due_within_hours": 1})).json()["items"]
    assert {c["id"] for c in due_soon} == {late["id"], soon["id"]}
