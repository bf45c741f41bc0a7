"""Finding complaints: filters, cursor pages stable under concurrent inserts, a customer's history."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from complaints_intake.api.models import EXAMPLE_DRAFT
from complaints_intake.store.tables import complaints

pytestmark = pytest.mark.integration

Intake = tuple[FastAPI, httpx.AsyncClient]


def draft(customer_id: str = "CUST-1", **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE_DRAFT)
    body.pop("crm_reference")
    body["customer"]["customer_id"] = customer_id
    body.update(changes)
    return body


async def file(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/complaints", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.api_only
async def test_pages_cover_every_complaint_once_while_new_ones_arrive(intake: Intake) -> None:
    _, client = intake
    filed = [await file(client, draft(f"CUST-{i}", category="billing")) for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, "category": "billing"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/complaints", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        # A complaint filed mid-way is newer than every page boundary: it never shifts the pages.
        await file(client, draft("CUST-new", category="billing"))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["id"] for c in reversed(filed)]


@pytest.mark.api_only
async def test_filters_combine(intake: Intake) -> None:
    _, client = intake
    await file(client, draft("A", channel="chat", severity="high"))
    await file(client, draft("B", channel="chat", severity="low"))
    target = await file(client, draft("C", channel="email", severity="high", agent_id="agent-9"))
    found = (await client.get("/v1/complaints", params={"severity": "high", "channel": "email"})).json()
    assert [i["id"] for i in found["items"]] == [target["id"]]
    by_agent = (await client.get("/v1/complaints", params={"agent_id": "agent-9", "sort": "filed_at"})).json()
    assert [i["id"] for i in by_agent["items"]] == [target["id"]]
    assert (await client.get("/v1/complaints", params={"status": ["closed"]})).json()["items"] == []


@pytest.mark.api_only
async def test_a_bad_cursor_is_a_problem(intake: Intake) -> None:
    _, client = intake
    response = await client.get("/v1/complaints", params={"cursor": "not-a-cursor"})
    assert response.status_code == 422
    assert response.json()["type"].endswith("invalid-cursor")


async def test_a_customer_history_links_repeats_and_duplicates(intake: Intake) -> None:
    _, client = intake
    first = await file(client, draft("CUST-7", category="billing", product="Fibre 500"))
    duplicate = await file(client, draft("CUST-7", category="billing", product="Fibre 500"))
    repeat = await file(client, draft("CUST-7", category="billing", product="Mobile XL"))
    other = await file(client, draft("CUST-7", category="delivery", product="Router"))
    await file(client, draft("CUST-8", category="billing", product="Fibre 500"))
    assert duplicate["repeat_of"] == first["id"] and duplicate["repeat_kind"] == "duplicate"
    assert repeat["repeat_of"] == duplicate["id"] and repeat["repeat_kind"] == "repeat"
    assert other["repeat_of"] is None

    history = (await client.get("/v1/customers/CUST-7/complaints")).json()
    assert [i["id"] for i in history["items"]] == [other["id"], repeat["id"], duplicate["id"], first["id"]]
    assert (history["total"], history["open"], history["repeats"]) == (4, 4, 2)
    assert history["flags"] == []


async def test_repeated_critical_complaints_flag_the_customer(intake: Intake) -> None:
    _, client = intake
    for category in ("billing", "delivery", "staff"):
        await file(client, draft("CUST-X", category=category, product=None, severity="critical"))
    history = (await client.get("/v1/customers/CUST-X/complaints")).json()
    assert history["flags"] == ["repeated_extreme"]


@pytest.mark.api_only
async def test_a_complaint_is_found_by_every_id_the_crm_holds(intake: Intake) -> None:
    _, client = intake
    customer = {"customer_id": "CUST-7", "email": "Octavia.Quill@Example.org", "phone": "+44 20 7946-0018"}
    target = await file(
        client,
        draft(
            customer=customer,
            crm_reference="CASE-4711",
            tags=["vip", "outage-2026-11"],
            description="The router keeps dropping the connection every evening.",
        ),
    )
    await file(client, draft("CUST-8", tags=["vip"], description="Charged twice for the same order."))
    searches: list[dict[str, Any]] = [
        {"crm_reference": "CASE-4711"},
        {"reference": target["reference"]},
        {"email": "octavia.quill@example.ORG"},
        {"phone": "+442079460018"},
        {"phone": "+44 (20) 7946 0018"},
        {"tag": "outage-2026-11"},
        {"q": "router dropping"},
        {"q": '"dropping the connection" -twice'},
    ]
    for params in searches:
        response = await client.get("/v1/complaints", params=params)
        assert response.status_code == 200, (params, response.text)
        assert [i["id"] for i in response.json()["items"]] == [target["id"]], params
    assert len((await client.get("/v1/complaints", params={"tag": "vip"})).json()["items"]) == 2
    assert (await client.get("/v1/complaints", params={"q": "refund"})).json()["items"] == []


@pytest.mark.api_only
async def test_an_unknown_query_parameter_is_refused_by_name(intake: Intake) -> None:
    _, client = intake
    await file(client, draft("CUST-1"))
    response = await client.get("/v1/complaints", params={"custmer_id": "CUST-1", "limit": 5, "colour": "x"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["query.colour", "query.custmer_id"]
    history = await client.get("/v1/customers/CUST-1/complaints", params={"sort": "filed_at"})
    assert history.status_code == 422  # this operation takes no sort
    assert [e["field"] for e in history.json()["errors"]] == ["query.sort"]


@pytest.mark.api_only
async def test_overdue_filters_both_ways(intake: Intake) -> None:
    app, client = intake
    late = await file(client, draft("CUST-late"))
    on_time = await file(client, draft("CUST-on-time"))
    # Make the first one overdue: its earliest running due time lies in the past.
    runtime = app.state.runtime
    async with runtime.db.transaction() as session:
        await session.execute(
            complaints.update()
            .where(complaints.c.id == late["id"])
            .values(next_due_at=datetime.now(UTC) - timedelta(hours=1))
        )
    overdue = (await client.get("/v1/complaints", params={"overdue": "true"})).json()["items"]
    not_overdue = (await client.get("/v1/complaints", params={"overdue": "false"})).json()["items"]
    assert [i["id"] for i in overdue] == [late["id"]]
    assert on_time["id"] in [i["id"] for i in not_overdue]
    assert late["id"] not in [i["id"] for i in not_overdue]


@pytest.mark.api_only
async def test_the_crm_id_searches_have_their_indexes(intake: Intake) -> None:
    app, _ = intake
    async with app.state.runtime.db.transaction() as session:
        rows = await session.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'intake'")
        )
        indexes = dict(rows.tuples().all())
    expected = {
        "ix_complaints_customer_email": "lower((customer ->> 'email'::text))",
        "ix_complaints_customer_phone": "regexp_replace((customer ->> 'phone'::text)",
        "ix_complaints_tags": "USING gin (tags)",
        "ix_complaints_description_words": "to_tsvector('simple'::regconfig, description)",
    }
    for name, expression in expected.items():
        assert expression in indexes[name], indexes.get(name)
