"""Due times on the complaint: computed at filing, recomputed on pause and resume, listed when due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from complaints_intake.store.tables import complaints, outbox

from .conftest import draft

pytestmark = pytest.mark.integration

Intake = tuple[FastAPI, httpx.AsyncClient]


def by_name(complaint: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in complaint["deadlines"]}


async def test_due_times_follow_the_clock(intake: Intake) -> None:
    app, client = intake
    filed = (await client.post("/v1/complaints", json=draft(category="payments"))).json()
    url = f"/v1/complaints/{filed['id']}"
    assert filed["deadline_profile"] == "uk-fca-payments"
    deadlines = by_name(filed)
    assert set(deadlines) == {"acknowledge", "final_response"}
    first_due = datetime.fromisoformat(deadlines["final_response"]["due_at"])

    await client.post(f"{url}/transitions", json={"action": "acknowledge"})
    paused = (await client.post(f"{url}/transitions", json={"action": "pause"})).json()
    assert by_name(paused)["final_response"]["due_at"] is None
    assert by_name(paused)["final_response"]["paused"] is True
    assert by_name(paused)["acknowledge"]["met_at"] is not None
    resumed = (await client.post(f"{url}/transitions", json={"action": "resume"})).json()
    assert datetime.fromisoformat(by_name(resumed)["final_response"]["due_at"]) >= first_due

    async with app.state.runtime.db.transaction() as session:
        types = (await session.execute(select(outbox.c.type, outbox.c.payload).order_by(outbox.c.seq))).all()
    created = types[0].payload
    assert [d["name"] for d in created["deadlines"]] == ["acknowledge", "final_response"]
    clock_events = [t for t in types if t.type == "complaints.complaint.deadlines_changed.v1"]
    assert [e.payload["deadlines"][1]["paused"] for e in clock_events] == [True, False]


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
