"""Service recovery through the running services: an agent on the phone gets the customer's
options, records the customer's choice, and the customer is told it in their language with who
handles the complaint and when they hear next; a proposal above the agent's authority still waits;
abusive conduct towards the agent moves the complaint to a supervisor and shows on the history."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from complaints_devstack.service_testing import bearer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

TENANT = "crm-e2e"
AGENT = bearer(TENANT, "agent-31", "agent")


def phone_complaint(customer_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "customer": {
            "customer_id": customer_id,
            "name": "Анна Лебедева",
            "email": "anna.lebedeva@example.com",
            "language": "ru",
            "tier": "gold",
        },
        "channel": "phone",
        "category": "defective",
        "severity": "medium",
        "description": "Чайник потёк через неделю.",
        "amount_at_stake": {"amount": "60.00", "currency": "EUR"},
        "tags": ["industry:retail"],
        **changes,
    }


async def customer_told(platform: Any, wait_for: Any, complaint_id: str, kind: str) -> dict[str, Any] | None:
    """The complaint's message of `kind` once notifications has composed it; None if it never was."""

    async def composed() -> dict[str, Any] | None:
        async with platform.client("notifications") as notifications:
            response = await notifications.get(f"/v1/complaints/{complaint_id}/messages")
        messages = response.json() if response.status_code == 200 else []  # 404: nothing recorded yet
        return next((m for m in messages if m["kind"] == kind and m["body"]), None)

    told: dict[str, Any] | None = await wait_for(composed)
    return told


async def test_the_customer_chooses_an_option_and_is_told_it_by_its_owner_with_a_date(
    platform: Any, wait_for: Any
) -> None:
    customer_id = f"FRONT-{uuid4().hex[:8]}"
    async with platform.client("intake", AGENT) as intake:
        filed = await intake.post("/v1/complaints", json=phone_complaint(customer_id))
        assert filed.status_code == 201, filed.text
        complaint_id = filed.json()["id"]
        assert filed.json()["agent_id"] == "agent-31", "the agent is the token's person"

    async with platform.client("compensation", AGENT) as compensation:

        async def offered() -> dict[str, Any] | None:
            response = await compensation.get(f"/v1/complaints/{complaint_id}/options")
            return response.json() if response.status_code == 200 else None

        options = await wait_for(offered)
        assert options and options["status"] == "open", "an agent on the phone gets options"
        kinds = [o["offer"]["kind"] for o in options["options"]]
        assert len(kinds) == len(set(kinds)) >= 2 and all(
            o["within_your_authority"] for o in options["options"]
        )
        assert options["options"][0]["offer"]["description"].startswith("Бесплатная замена")
        no_decision = await compensation.get(f"/v1/complaints/{complaint_id}/decision")
        assert no_decision.status_code == 404, "no automatic grant while the customer chooses"

        chosen = options["options"][1]
        decided = await compensation.post(
            f"/v1/complaints/{complaint_id}/choice", json={"option_id": chosen["option_id"]}
        )
        assert decided.status_code == 201, decided.text
        decision = decided.json()
        assert (decision["status"], decision["proposed_by"]) == ("granted", "agent-31")

    message = await customer_told(platform, wait_for, complaint_id, "compensation")
    assert message, "the customer was not told the choice"
    assert chosen["offer"]["description"] in message["body"], "told the option they chose, in Russian"
    assert "care@example.com" in message["body"]
    assert "заботы о клиентах" in message["body"], "the message names who handles it"  # noqa: RUF001
    assert "не позднее 20" in message["body"], "and when they hear next"

    async def journey() -> dict[str, Any] | None:
        async with platform.client("intake") as intake:
            complaint = (await intake.get(f"/v1/complaints/{complaint_id}")).json()
        step = complaint["journey"].get("compensation_options")
        return complaint if step and step["status"] == "settled" else None

    complaint = await wait_for(journey)
    assert complaint, "intake's journey does not show the options"
    assert complaint["journey"]["compensation_options"]["chosen"] == chosen["option_id"]
    assert complaint["journey"]["compensation"]["status"] == "granted"

    # The same customer calls again; the agent offers more than their authority: it waits.
    async with platform.client("intake", AGENT) as intake:
        # Another matter (the same one a second later would be a duplicate: no options, refused).
        late = phone_complaint(customer_id, category="delivery")
        second = (await intake.post("/v1/complaints", json=late)).json()
    async with platform.client("compensation", AGENT) as compensation:
        assert await wait_for(lambda: _status(compensation, f"/v1/complaints/{second['id']}/options", 200)), (
            "no options for the second complaint"
        )
        value = {"amount": "300.00", "currency": "EUR"}
        proposal = await compensation.post(
            f"/v1/complaints/{second['id']}/proposals",
            json={"offer": {"kind": "fixed_credit", "description": "Кредит.", "value": value}},
        )
        assert proposal.status_code == 201, proposal.text
        assert proposal.json()["status"] == "pending_approval", "above the agent's authority it waits"
        closed = (await compensation.get(f"/v1/complaints/{second['id']}/options")).json()
        assert closed["status"] == "proposed"


async def test_abusive_conduct_moves_the_complaint_to_a_supervisor_and_shows_on_the_history(
    platform: Any, wait_for: Any
) -> None:
    customer_id = f"RUDE-{uuid4().hex[:8]}"
    async with platform.client("intake", AGENT) as intake:
        filed = (await intake.post("/v1/complaints", json=phone_complaint(customer_id))).json()
        flagged = await intake.post(
            f"/v1/complaints/{filed['id']}/abusive-conduct", json={"note": "Threatened the agent."}
        )
        assert flagged.status_code == 200, flagged.text
        assert flagged.json()["escalation_level"] == 1
        history = (await intake.get(f"/v1/customers/{customer_id}/complaints")).json()
        assert "abusive_conduct" in history["flags"] and history["items"][0]["abusive_conduct_at"]

    message = await customer_told(platform, wait_for, filed["id"], "escalated")
    assert message and "руководитель" in message["body"], "the customer learns a supervisor now handles it"


async def _status(client: Any, path: str, expected: int) -> bool:
    return bool((await client.get(path)).status_code == expected)
