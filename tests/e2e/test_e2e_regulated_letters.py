"""Regulated letters across the services: a final response without the ombudsman wording in the
customer's language is refused before anything is sent; with it, the customer receives it in their
language, and the acknowledgement told them by when they would hear back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "docs/examples/complaint.json").read_text())
FINAL = {
    "action": "final_response",
    "outcome": "partly_upheld",
    "redress": {"amount": "25.00", "currency": "GBP"},
    "root_cause": "process",
    "explanation": "Мы дважды списали плату за октябрь и вернули её.",
}


def complaint(language: str, reference: str) -> dict[str, Any]:
    return {**EXAMPLE, "customer": {**EXAMPLE["customer"], "language": language}, "crm_reference": reference}


async def test_a_final_response_needs_the_ombudsman_wording_in_the_customers_language(
    platform: Any, wait_for: Any
) -> None:
    async with platform.client("intake") as intake, platform.client("notifications") as notifications:
        chosen = await intake.put("/v1/deadline-profiles/selection", json={"profile": "uk-fca-disp"})
        assert chosen.status_code == 200, chosen.text

        # Persian: no approved Financial Ombudsman Service wording -> refused, nothing recorded or sent.
        persian = (await intake.post("/v1/complaints", json=complaint("fa", "FCA-FA"))).json()
        refused = await intake.post(f"/v1/complaints/{persian['id']}/transitions", json=FINAL)
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/letter-incomplete")
        assert refused.json()["missing"] == ["fos_right_to_refer", "fos_time_limit", "fos_contact"]
        assert (await intake.get(f"/v1/complaints/{persian['id']}")).json()["status"] != "resolved"

        # Russian: the wording exists -> accepted, and the letter reaches the customer in Russian.
        russian = (await intake.post("/v1/complaints", json=complaint("ru", "FCA-RU"))).json()
        assert russian["deadline_profile"] == "uk-fca-disp"
        final_due = next(d for d in russian["deadlines"] if d["name"] == "final_response")["due_at"]
        answered = await intake.post(f"/v1/complaints/{russian['id']}/transitions", json=FINAL)
        assert answered.status_code == 200, answered.text
        body = answered.json()
        assert (body["status"], body["outcome"], body["redress"]["amount"]) == (
            "resolved",
            "partly_upheld",
            "25.00",
        )

        async def messages_of(complaint_id: str) -> list[dict[str, Any]]:
            response = await notifications.get(f"/v1/complaints/{complaint_id}/messages")
            return list(response.json()) if response.status_code == 200 else []

        async def letter_composed() -> bool:
            kinds = {m["kind"]: m for m in await messages_of(russian["id"])}
            return "final_response" in kinds and kinds["final_response"]["body"] is not None

        assert await wait_for(letter_composed, timeout=30)
        messages = {m["kind"]: m for m in await messages_of(russian["id"])}
        letter = messages["final_response"]
        assert letter["language"] == "ru"
        for wording in ("Службу финансового омбудсмена", "шести месяцев", "www.financial-ombudsman.org.uk"):
            assert wording in letter["body"]
        assert (
            "частично" in letter["body"]
            and "25.00 GBP" in letter["body"]
            and FINAL["explanation"] in letter["body"]
        )
        # The letter replaces the short "resolved" update; the acknowledgement named the date.
        assert "resolved" not in messages
        assert f"не позднее {final_due[:10]}" in messages["acknowledgement"]["body"]
        assert "final_response" not in {m["kind"] for m in await messages_of(persian["id"])}
