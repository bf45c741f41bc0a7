"""Erasure with retention across the four services: an erasure request leaves no name, e-mail,
phone or description of that customer in any service's tables or outbox, while the complaints
return's counts are unchanged, another customer's data is untouched and a repeat is harmless."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "docs/examples/complaint.json").read_text())
SCHEMAS = ("intake", "compensation", "followup", "notifications")
ERASED_CUSTOMER = {
    "customer_id": "CUST-ERASE-1",
    "name": "Zelda Quartermaine",
    "email": "zelda.quartermaine@example.org",
    "phone": "+44 20 7946 0111",
    "preferred_channel": "email",
    "language": "en",
}
DESCRIPTION = "My overdraft fee zq-7781 was taken twice from the joint account."
EXPLANATION = "Dear Ms Quartermaine, we took the fee twice and refunded it."
NEEDLES = [
    "Zelda",
    "Quartermaine",
    ERASED_CUSTOMER["email"],
    ERASED_CUSTOMER["phone"],
    "zq-7781",
]


async def tables(platform: Any) -> list[str]:
    rows = await platform.sql(
        "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables "
        "WHERE table_schema = ANY($1::text[]) AND table_type = 'BASE TABLE'",
        list(SCHEMAS),
    )
    return [r["name"] for r in rows]


async def where_found(platform: Any, needles: list[str]) -> dict[str, int]:
    """Every table whose rows, as text, still hold any of `needles` (case-insensitive)."""
    found: dict[str, int] = {}
    patterns = [f"%{n}%" for n in needles]
    for table in await tables(platform):
        rows = await platform.sql(
            f"SELECT count(*) AS n FROM {table} t WHERE t::text ILIKE ANY($1::text[])", patterns
        )
        if rows[0]["n"]:
            found[table] = rows[0]["n"]
    return found


async def test_an_erasure_leaves_no_personal_data_and_the_return_unchanged(
    platform: Any, wait_for: Any
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    async with platform.client("intake") as intake:
        assert (
            await intake.put("/v1/deadline-profiles/selection", json={"profile": "uk-fca-disp"})
        ).is_success
        body = {
            **EXAMPLE,
            "customer": ERASED_CUSTOMER,
            "description": DESCRIPTION,
            "crm_reference": "ERASE-1",
        }
        erased = (await intake.post("/v1/complaints", json=body)).json()
        kept = (await intake.post("/v1/complaints", json={**EXAMPLE, "crm_reference": "KEEP-1"})).json()
        url = f"/v1/complaints/{erased['id']}/transitions"
        await intake.post(url, json={"action": "pause", "note": "Zelda will send the statement"})
        await intake.post(url, json={"action": "resume"})
        final = {"action": "final_response", "outcome": "upheld", "explanation": EXPLANATION}
        assert (await intake.post(url, json=final)).status_code == 200

        async def everyone_has_it() -> bool:
            complaint = (await intake.get(f"/v1/complaints/{erased['id']}")).json()
            journey = complaint["journey"]
            letters = await platform.sql(
                "SELECT count(*) AS n FROM notifications.messages WHERE complaint_id = $1 AND kind = "
                "'final_response' AND body IS NOT NULL",
                erased["id"],
            )
            return bool(journey["acknowledgement_sent_at"] and journey["compensation"] and letters[0]["n"])

        assert await wait_for(everyone_has_it, timeout=40)
        assert set(await where_found(platform, NEEDLES)) >= {"intake.complaints", "notifications.recipients"}
        period = {
            "regime": "uk-fca",
            "from": start.isoformat(),
            "to": (start + timedelta(hours=1)).isoformat(),
        }
        before = (await intake.get("/v1/reports/complaints-return", params=period)).json()

        requested = await intake.post(f"/v1/customers/{ERASED_CUSTOMER['customer_id']}/erasure")
        assert requested.status_code == 202, requested.text
        assert requested.json()["complaint_ids"] == [erased["id"]]

        async def forgotten() -> bool:
            return not await where_found(platform, NEEDLES)

        assert await wait_for(forgotten, timeout=40), await where_found(platform, NEEDLES)
        digests = await platform.sql(
            "SELECT email_sha256, phone_sha256 FROM compensation.complaints WHERE complaint_id = $1",
            erased["id"],
        )
        assert [tuple(r) for r in digests] == [(None, None)]
        after = (await intake.get("/v1/reports/complaints-return", params=period)).json()
        assert after["totals"] == before["totals"] and after["groups"] == before["groups"]
        assert after["totals"]["opened"] == 2 and after["totals"]["upheld"] == 1

        view = (await intake.get(f"/v1/complaints/{erased['id']}")).json()
        assert (view["status"], view["outcome"], view["customer"]["customer_id"]) == (
            "resolved",
            "upheld",
            ERASED_CUSTOMER["customer_id"],
        )
        assert view["customer"].get("name") is None and view["description"] == "[erased]"
        other = (await intake.get(f"/v1/complaints/{kept['id']}")).json()
        assert other["customer"]["name"] == EXAMPLE["customer"]["name"]
        assert other["description"] == EXAMPLE["description"]
        audit = await platform.sql("SELECT customer_id, requested_by FROM intake.erasures")
        assert [r["customer_id"] for r in audit] == [ERASED_CUSTOMER["customer_id"]]

        # Again: harmless, and still nothing to find.
        assert (
            await intake.post(f"/v1/customers/{ERASED_CUSTOMER['customer_id']}/erasure")
        ).status_code == 202
        assert await wait_for(forgotten, timeout=20)
