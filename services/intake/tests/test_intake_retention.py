"""Retention: a complaint record is kept for its profile's retention period from receipt, then
purged with its history and letters; intake's own pseudonymising is idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from complaints_intake.domain.deadlines import shipped_rules
from complaints_intake.housekeeping import purge_records_once
from complaints_intake.store.erasure import pseudonymise
from complaints_intake.store.tables import complaint_history, complaints, outbox

from .conftest import draft

pytestmark = pytest.mark.integration

Intake = tuple[FastAPI, httpx.AsyncClient]


def test_retention_is_three_years_from_receipt_unless_a_profile_says_otherwise() -> None:
    now = datetime(2027, 6, 1, tzinfo=UTC)
    assert {p.retained_after(now) for p in shipped_rules().profiles.values()} == {
        datetime(2024, 6, 1, tzinfo=UTC)
    }
    leap = shipped_rules().profiles["standard"].retained_after(datetime(2028, 2, 29, tzinfo=UTC))
    assert leap == datetime(2025, 2, 28, tzinfo=UTC)


async def test_records_past_retention_are_purged_and_the_rest_kept(intake: Intake) -> None:
    app, client = intake
    old, recent = [(await client.post("/v1/complaints", json=draft())).json() for _ in range(2)]
    await client.post(f"/v1/complaints/{old['id']}/transitions", json={"action": "resolve"})
    now = datetime.now(UTC)
    async with app.state.runtime.db.transaction() as session:
        received = datetime(now.year - 4, 1, 1, tzinfo=UTC)  # past the default three years
        await session.execute(
            update(complaints).where(complaints.c.id == old["id"]).values(filed_at=received)
        )
    assert await purge_records_once(app.state.runtime, now) == 1
    assert await purge_records_once(app.state.runtime, now) == 0
    assert (await client.get(f"/v1/complaints/{old['id']}")).status_code == 404
    assert (await client.get(f"/v1/complaints/{recent['id']}")).status_code == 200
    async with app.state.runtime.db.transaction() as session:
        history = await session.scalar(
            select(func.count())
            .select_from(complaint_history)
            .where(complaint_history.c.complaint_id == old["id"])
        )
    assert history == 0


async def test_pseudonymising_twice_is_harmless(intake: Intake) -> None:
    app, client = intake
    filed = (await client.post("/v1/complaints", json=draft())).json()
    for _ in range(2):
        async with app.state.runtime.db.transaction() as session:
            await pseudonymise(session, filed["id"])
    view = (await client.get(f"/v1/complaints/{filed['id']}")).json()
    assert view["customer"] == {
        "customer_id": "CUST-1042",
        "name": None,
        "email": None,
        "phone": None,
        "preferred_channel": "none",
        "language": "en",
        "tier": None,
        "region": None,
    }
    assert view["description"] == "[erased]"
    async with app.state.runtime.db.transaction() as session:
        created = await session.scalar(select(outbox.c.payload).where(outbox.c.aggregateid == filed["id"]))
    assert created["customer"] == {
        "customer_id": "CUST-1042",
        "preferred_channel": "none",
        "language": "en",
        "tier": None,
    }
