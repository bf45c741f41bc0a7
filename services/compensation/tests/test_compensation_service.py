"""Compensation running in-process on real PostgreSQL and Kafka: automatic grants exactly once,
approvals over REST, policy replacement, vouchers and the audit trail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import text

from complaints_common.events.contracts import ComplaintCreatedV1
from complaints_common.events.envelope import COMPLAINT_CREATED_V1, Event
from complaints_compensation.application.deciding import decide_automatically
from complaints_compensation.dependencies import CompensationDependencies
from complaints_compensation.domain.rules import load_policy_file
from complaints_compensation.main import SERVICE
from complaints_compensation.settings import CompensationSettings
from complaints_devstack import service_testing
from complaints_devstack.factories import publish
from complaints_devstack.service_testing import bearer

from .conftest import complaint

pytestmark = pytest.mark.integration

TENANT = "crm-test"
FILE_ONLY_KEY = "file-only-key-0123456789"
FILE_ONLY = {"X-API-Key": FILE_ONLY_KEY}
OPERATOR = bearer("crm-ops", "operator-1", "platform-operator")


def person(sub: str, role: str) -> dict[str, str]:
    return bearer(TENANT, sub, role)


@pytest.fixture
async def compensation(
    database_url: str, kafka_bootstrap: str, topics: str
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    keys = [*service_testing.test_api_keys(), *service_testing.test_api_keys(FILE_ONLY_KEY, ["file"])]
    settings = service_testing.test_settings(
        CompensationSettings, database_url, kafka_bootstrap, topics, api_keys=keys
    )
    async with service_testing.running_service(SERVICE, settings) as running:
        yield running


async def decision_of(client: httpx.AsyncClient, complaint_id: Any, timeout: float = 15) -> dict[str, Any]:
    for _ in range(int(timeout / 0.1)):
        response = await client.get(f"/v1/complaints/{complaint_id}/decision")
        if response.status_code == 200:
            return dict(response.json())
        await asyncio.sleep(0.1)
    raise AssertionError("no decision")


async def test_a_redelivered_and_replayed_complaint_is_granted_once(
    compensation: tuple[FastAPI, httpx.AsyncClient], kafka_bootstrap: str, topics: str
) -> None:
    app, client = compensation
    data = complaint(category="billing", stake="39.90")
    event = Event(COMPLAINT_CREATED_V1, data, "/test")
    replayed = Event(COMPLAINT_CREATED_V1, data, "/test")  # the same complaint, re-published: a new id
    await publish(kafka_bootstrap, topics, event, event, replayed)
    decision = await decision_of(client, data.complaint_id)
    assert decision["status"] == "granted" and decision["within_frontline"]
    assert decision["voucher_code"] and decision["rule_id"] == "any.billing-credit"
    assert decision["policy_version"] == "2026.12-default-2"

    # Two replicas deciding the same complaint at the same moment.
    runtime, deps = app.state.runtime, app.state.dependencies

    async def replica() -> None:
        async with runtime.db.transaction() as session:
            await decide_automatically(session, deps, data)

    await asyncio.gather(replica(), replica())
    await asyncio.sleep(0.5)
    trail = (await client.get("/v1/decisions", params={"complaint_id": str(data.complaint_id)})).json()
    assert len(trail["items"]) == 1
    # One grant, announced once, by compensation.granted alone: no decision record with it.
    [(kind, grant)] = await published(app, data.complaint_id)
    assert kind == "complaints.compensation.granted.v1"
    assert (grant["decision_id"], grant["rule_id"], grant["granted_by"]) == (
        decision["id"],
        decision["rule_id"],
        "auto",
    )
    assert (grant["policy_version"], grant["authority"], grant["reason"]) == (
        decision["policy_version"],
        "frontline",
        decision["reason"],
    )
    assert grant["offer"]["value"] == {"amount": decision["value_amount"], "currency": decision["currency"]}


async def published(app: FastAPI, complaint_id: Any) -> list[tuple[str, dict[str, Any]]]:
    """The events the complaint's decisions put in the outbox, in order: (ce_type, data)."""
    async with app.state.runtime.db.transaction() as session:
        rows = await session.execute(
            text("SELECT type, payload FROM compensation.outbox WHERE aggregateid = :c ORDER BY seq"),
            {"c": str(complaint_id)},
        )
        return [(row.type, row.payload) for row in rows]


async def _decide(app: FastAPI, data: ComplaintCreatedV1) -> None:
    async with app.state.runtime.db.transaction() as session:
        await decide_automatically(session, app.state.dependencies, data)


async def test_an_over_limit_offer_waits_and_is_granted_only_on_approval(
    compensation: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = compensation
    data = complaint(category="outage", severity="critical", stake="900.00")
    await _decide(app, data)
    decision = await decision_of(client, data.complaint_id)
    assert (decision["status"], decision["authority"], decision["voucher_code"]) == (
        "pending_approval",
        "manager",
        None,
    )
    waiting = (await client.get("/v1/approvals")).json()["items"]
    assert [d["id"] for d in waiting] == [decision["id"]]

    url = f"/v1/decisions/{decision['id']}"
    by_key = await client.post(url + "/approve", json={})
    assert by_key.status_code == 403, "an API key is nobody: only a person's token signs"
    claimed = await client.post(url + "/approve", json={"approver_id": "man-9", "approver_role": "manager"})
    assert claimed.status_code == 422, "who signs, and as what, is never read from the body"
    agent = await client.post(url + "/approve", json={}, headers=person("agent-1", "agent"))
    assert agent.status_code == 403
    passed = await client.post(url + "/approve", json={}, headers=person("sup-1", "supervisor"))
    assert passed.status_code == 200 and passed.json()["status"] == "pending_approval"
    below = await client.post(url + "/approve", json={}, headers=person("sup-2", "supervisor"))
    assert below.status_code == 403, "a supervisor's verified authority is below 900 EUR"
    twice = await client.post(url + "/approve", json={}, headers=person("sup-1", "manager"))
    assert twice.status_code == 403 and "Four eyes" in twice.json()["detail"]
    granted = await client.post(url + "/approve", json={}, headers=person("man-1", "manager"))
    body = granted.json()
    assert body["status"] == "granted" and body["granted_by"] == "man-1" and body["authority"] == "manager"
    assert [(s["by"], s["role"]) for s in body["signoffs"]] == [("sup-1", "supervisor"), ("man-1", "manager")]
    # The waiting decision and the sign-off that passed it on are recorded; the approval that
    # grants it is announced by compensation.granted alone.
    events = await published(app, data.complaint_id)
    assert [(kind, e.get("status"), e.get("decided_by")) for kind, e in events[:2]] == [
        ("complaints.compensation.decision_recorded.v1", "pending_approval", "auto"),
        ("complaints.compensation.decision_recorded.v1", "pending_approval", "sup-1"),
    ]
    [(kind, grant)] = events[2:]
    assert kind == "complaints.compensation.granted.v1"
    assert (grant["decision_id"], grant["granted_by"], grant["authority"]) == (
        decision["id"],
        "man-1",
        "manager",
    )
    assert grant["granted_at"] is not None and grant["rule_id"] == decision["rule_id"]
    again = await client.post(url + "/reject", json={"reason": "not now"}, headers=person("man-2", "manager"))
    assert again.status_code == 409


OFFER = {
    "kind": "fixed_credit",
    "description": "A credit for the trouble.",
    "value": {"amount": "150.00", "currency": "EUR"},
}


async def test_a_file_only_caller_cannot_exceed_the_agent_limit_whatever_the_body_says(
    compensation: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = compensation
    data = complaint(category="anything", tags=["customer_error"])  # an apology: the agent may add more
    await _decide(app, data)
    url = f"/v1/complaints/{data.complaint_id}/proposals"
    for claim in ({"role": "manager"}, {"agent_id": "man-1"}, {"offer": {**OFFER, "cost": OFFER["value"]}}):
        refused = await client.post(url, json={"offer": OFFER} | claim, headers=FILE_ONLY)
        assert refused.status_code == 422, f"{claim} is not the caller's to say"
    proposed = await client.post(url, json={"offer": OFFER}, headers=FILE_ONLY)
    assert proposed.status_code == 201, proposed.text
    body = proposed.json()
    assert (body["status"], body["authority"]) == ("pending_approval", "supervisor")
    assert body["proposed_by"].startswith("api-key:")
    ratio = load_policy_file().cost_ratio("fixed_credit")
    assert Decimal(body["cost_amount"]) == (Decimal("150.00") * ratio).quantize(Decimal("0.01")) < 150
    # ... worked out from the policy's cost ratio, never taken from the caller


async def test_one_person_cannot_propose_and_approve_even_with_two_credentials(
    compensation: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = compensation
    data = complaint(category="anything", tags=["customer_error"])
    await _decide(app, data)
    proposed = await client.post(
        f"/v1/complaints/{data.complaint_id}/proposals",
        json={"offer": OFFER},
        headers=person("agent-7", "agent"),
    )
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["status"] == "pending_approval" and proposed.json()["proposed_by"] == "agent-7"
    url = f"/v1/decisions/{proposed.json()['id']}"
    own = await client.post(url + "/approve", json={}, headers=person("agent-7", "supervisor"))
    assert own.status_code == 403, "a second token of the same person is the same person"
    rejected = await client.post(
        url + "/reject", json={"reason": "too generous"}, headers=person("sup-2", "supervisor")
    )
    assert rejected.json()["status"] == "rejected"
    small = {**OFFER, "value": {"amount": "60.00", "currency": "EUR"}}
    granted = await client.post(
        f"/v1/complaints/{data.complaint_id}/proposals",
        json={"offer": small},
        headers=person("agent-7", "agent"),
    )
    assert granted.json()["status"] == "granted" and granted.json()["voucher_code"]
    second = await client.post(
        f"/v1/complaints/{data.complaint_id}/proposals",
        json={"offer": small},
        headers=person("agent-8", "agent"),
    )
    assert second.status_code == 409


async def test_pending_proposals_count_against_the_cap_and_approvals_check_it_again(
    compensation: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """Five 450 EUR proposals for one customer: the cap (1,000 EUR) counts waiting ones too, so
    the third is refused; an approval checks the cap again, with the policy it finds then."""
    app, client = compensation
    statuses = []
    waiting = []
    for _ in range(5):
        data = complaint(customer_id="CUST-CAP", category="anything", tags=["customer_error"])
        await _decide(app, data)
        proposal = {"offer": {**OFFER, "value": {"amount": "450.00", "currency": "EUR"}}}
        response = await client.post(
            f"/v1/complaints/{data.complaint_id}/proposals", json=proposal, headers=person("agent-7", "agent")
        )
        statuses.append((response.json()["status"], response.json()["rule_id"]))
        if response.json()["status"] == "pending_approval":
            waiting.append(response.json()["id"])
    assert statuses == [("pending_approval", "proposal")] * 2 + [("refused", "abuse.customer-value-cap")] * 3
    policy = (await client.get("/v1/policy")).json()
    policy["version"] = "cap-800"
    policy["abuse"]["max_value"]["EUR"] = "800.00"
    assert (await client.put("/v1/policy", json=policy, headers=OPERATOR)).status_code == 200
    supervisor = person("sup-1", "supervisor")
    over = await client.post(f"/v1/decisions/{waiting[0]}/approve", json={}, headers=supervisor)
    assert over.status_code == 409 and "abuse.customer-value-cap" in over.json()["detail"]
    still = (await client.get(f"/v1/decisions/{waiting[0]}")).json()
    assert still["status"] == "pending_approval", "450 + 450 waiting is over the new 800 EUR cap"
    rejected = await client.post(
        f"/v1/decisions/{waiting[1]}/reject", json={"reason": "one is enough"}, headers=supervisor
    )
    assert rejected.json()["status"] == "rejected"
    granted = await client.post(f"/v1/decisions/{waiting[0]}/approve", json={}, headers=supervisor)
    assert granted.json()["status"] == "granted"


async def test_abuse_caps_refuse_and_name_the_rule_and_the_trail_is_queryable(
    compensation: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = compensation
    policy = (await client.get("/v1/policy")).json()
    policy["version"] = "tight-1"
    policy["abuse"]["max_grants"] = 1
    by_tenant_admin = await client.put("/v1/policy", json=policy)
    assert by_tenant_admin.status_code == 403, "the policy is every client's: a platform operator's to change"
    replaced = await client.put("/v1/policy", json=policy, headers=OPERATOR)
    assert replaced.status_code == 200, replaced.text
    versions = [v["version"] for v in (await client.get("/v1/policy/versions")).json()]
    assert set(versions) == {"tight-1", "2026.12-default-2"}
    policy["description"] = "changed without a new version"
    assert (await client.put("/v1/policy", json=policy, headers=OPERATOR)).status_code == 409
    broken = {**policy, "version": "broken", "rules": []}
    assert (await client.put("/v1/policy", json=broken, headers=OPERATOR)).status_code == 422
    unfillable = {**policy, "version": "unfillable"}
    unfillable["rules"] = [
        *policy["rules"][:-1],
        policy["rules"][-1] | {"offer": policy["rules"][-1]["offer"]},
    ]
    unfillable["rules"][-1]["offer"] = {
        **unfillable["rules"][-1]["offer"],
        "description": "{value} {customer}",
    }
    refused = await client.put("/v1/policy", json=unfillable, headers=OPERATOR)
    assert refused.status_code == 422 and "customer" in refused.text, "a placeholder nobody can fill"

    first, second = complaint(customer_id="CUST-9"), complaint(customer_id="CUST-9")
    await _decide(app, first)
    await _decide(app, second)
    refused = await decision_of(client, second.complaint_id)
    assert (refused["status"], refused["rule_id"], refused["policy_version"]) == (
        "refused",
        "abuse.customer-count-cap",
        "tight-1",
    )
    trail = (await client.get("/v1/decisions", params={"customer_id": "CUST-9", "status": "refused"})).json()
    assert [d["complaint_id"] for d in trail["items"]] == [str(second.complaint_id)]


async def test_the_policy_file_is_installed_at_start_up_and_a_broken_one_stops_the_process(
    compensation: tuple[FastAPI, httpx.AsyncClient], tmp_path: Path
) -> None:
    app, _ = compensation
    async with app.state.runtime.db.transaction() as session:  # before any decision or read of the policy
        stored = (
            await session.execute(text("SELECT version, active, loaded_by FROM compensation.policies"))
        ).all()
    assert [tuple(row) for row in stored] == [(load_policy_file().version, True, "file")]

    broken = tmp_path / "broken.yaml"
    broken.write_text("version: broken\nrules: []\n")
    settings = app.state.dependencies.settings.model_copy(update={"policy_file": broken})
    with pytest.raises(ValidationError):
        SERVICE.create_app(settings)  # the process is not made: no decision ever meets the broken file


async def test_a_voucher_is_single_use_and_can_be_clawed_back(
    compensation: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = compensation
    data = complaint()
    await _decide(app, data)
    decision = await decision_of(client, data.complaint_id)
    code = decision["voucher_code"]
    redeemed = await client.post(f"/v1/vouchers/{code}/redeem", json={}, headers=person("till-3", "agent"))
    assert redeemed.json()["voucher_status"] == "redeemed"
    assert (await client.post(f"/v1/vouchers/{code}/redeem", json={})).status_code == 409
    assert (await client.post("/v1/vouchers/NOPE-NOPE/redeem", json={})).status_code == 404
    clawed = await client.post(
        f"/v1/decisions/{decision['id']}/clawback",
        json={"reason": "abuse"},
        headers=person("sup-4", "supervisor"),
    )
    assert clawed.json()["voucher_status"] == "clawed_back"
    # Who took it back and why stay on the decision's audit.
    audited = (await client.get(f"/v1/decisions/{decision['id']}")).json()
    assert (audited["voucher_changed_by"], audited["voucher_reason"]) == ("sup-4", "abuse")
    report = (await client.get("/v1/reports/spend", params={"group_by": "rule"})).json()
    assert report["lines"] == [] and report["decided"] == 1 and report["frontline_share"] == "1.0000"


async def test_the_customers_past_is_read_from_the_database_for_every_abuse_rule(
    compensation: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """The abuse rules' questions about a customer's past go to PostgreSQL in one query: the same
    order compensated before, contact details shared by other customers, channel velocity."""
    app, client = compensation
    policy = (await client.get("/v1/policy")).json()
    policy["version"] = "velocity-1"
    policy["abuse"]["max_channels"] = 2
    policy["abuse"]["max_customers_per_contact"] = 2
    assert (await client.put("/v1/policy", json=policy, headers=OPERATOR)).status_code == 200

    async def status_and_rule(data: ComplaintCreatedV1) -> tuple[str, str]:
        await _decide(app, data)
        decision = await decision_of(client, data.complaint_id)
        return decision["status"], decision["rule_id"]

    # Same order: granted the first time, refused for anybody after.
    first = await status_and_rule(complaint(customer_id="ORD-1", tags=["order:SO-77"]))
    assert first[0] == "granted"
    assert await status_and_rule(complaint(customer_id="ORD-2", tags=["order:SO-77"])) == (
        "refused",
        "abuse.same-order",
    )
    # Shared contact: the third customer with one e-mail address is held.
    shared = "shared.mailbox@example.invalid"
    for customer in ("MAIL-1", "MAIL-2"):
        assert (await status_and_rule(complaint(customer_id=customer, email=shared)))[0] == "granted"
    assert await status_and_rule(complaint(customer_id="MAIL-3", email=shared)) == (
        "held",
        "abuse.shared-contact",
    )
    # Channel velocity: a third channel within the window is held.
    for channel in ("phone", "email"):
        data = complaint(customer_id="VEL-1", channel=channel, tags=[f"order:V-{channel}"])
        assert (await status_and_rule(data))[0] == "granted"
    assert await status_and_rule(complaint(customer_id="VEL-1", channel="chat")) == (
        "held",
        "abuse.channel-velocity",
    )


async def test_a_replica_decides_by_the_policy_another_replica_activated_and_its_limits(
    compensation: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """A replica assumes the policy it last saw active and checks it in the history query itself:
    a version activated elsewhere decides its next complaint, abuse windows and caps included."""
    app, client = compensation
    replica = CompensationDependencies.build(app.state.runtime)  # another process's book
    assert replica.book.last_seen.version == app.state.dependencies.book.file_policy.version
    policy = (await client.get("/v1/policy")).json()
    policy["version"] = "elsewhere-1"
    policy["abuse"]["max_grants"] = 0  # any grant is over the cap
    assert (await client.put("/v1/policy", json=policy, headers=OPERATOR)).status_code == 200
    data = complaint(customer_id="REPLICA-1")
    async with app.state.runtime.db.transaction() as session:
        await decide_automatically(session, replica, data)
    decision = await decision_of(client, data.complaint_id)
    assert (decision["policy_version"], decision["rule_id"]) == ("elsewhere-1", "abuse.customer-count-cap")
    assert replica.book.last_seen.version == "elsewhere-1"
