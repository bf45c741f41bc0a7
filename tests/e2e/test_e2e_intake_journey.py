"""The complaint a CRM reads back from intake shows its journey through the other services.

Four real service processes: intake files the complaint; notifications' status moves it to
acknowledged and compensation's grant appears on it, without the CRM asking anyone but intake.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "docs/examples/complaint.json").read_text())


async def test_the_crm_reads_the_whole_journey_from_intake(platform: Any, wait_for: Any) -> None:
    async with platform.client("intake") as intake:
        body = {**EXAMPLE, "crm_reference": "E2E-JOURNEY-1"}
        filed = await intake.post("/v1/complaints", json=body, headers={"Idempotency-Key": "e2e-1"})
        assert filed.status_code == 201, filed.text
        url = f"/v1/complaints/{filed.json()['id']}"
        assert [d["name"] for d in filed.json()["deadlines"]] == ["acknowledge", "final_response"]

        async def journeyed() -> dict[str, Any] | None:
            complaint: dict[str, Any] = (await intake.get(url)).json()
            journey = complaint["journey"]
            done = journey["acknowledgement_sent_at"] and (journey["compensation"] or {}).get("status")
            return complaint if done else None

        complaint = await wait_for(journeyed, timeout=45)
        assert complaint, "the journey never showed on the complaint"
        assert complaint["status"] == "acknowledged"
        assert complaint["journey"]["compensation"]["status"] in ("granted", "pending_approval")
        acknowledge = next(d for d in complaint["deadlines"] if d["name"] == "acknowledge")
        # Service recovery within 60 seconds: the acknowledgement left in time.
        assert acknowledge["met_at"] is not None
        assert datetime.fromisoformat(acknowledge["met_at"]) <= datetime.fromisoformat(acknowledge["due_at"])
        took = datetime.fromisoformat(complaint["acknowledged_at"]) - datetime.fromisoformat(
            complaint["filed_at"]
        )
        print(f"filed -> acknowledgement sent: {took.total_seconds() * 1000:.0f} ms")
        history = (await intake.get(f"{url}/history")).json()["entries"]
        assert history[0]["action"] == "file" and history[0]["actor"].startswith("api-key:"), (
            "filed by the authenticated key, whatever agent the body names"
        )
        assert (history[1]["action"], history[1]["actor"]) == ("acknowledge", "notifications")
