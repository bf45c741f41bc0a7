"""Webhook subscriptions through the running service (real PostgreSQL and broker, a real HTTP
receiver), every delivery verified with the `standardwebhooks` library: a subscription receives a
signed test delivery and then exactly the push types it chose; both secrets sign during a rotation's
overlap; non-public targets are refused when registered and again when delivered; another tenant
sees none of it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from complaints_common.events.contracts import (
    CompensationDecisionRecordedV1,
    CompensationGrantedV1,
    ComplaintStatusChangedV1,
    FollowupDueV1,
    FollowupOutcomeV1,
)
from complaints_common.events.envelope import (
    COMPENSATION_DECISION_RECORDED_V1,
    COMPENSATION_GRANTED_V1,
    COMPLAINT_STATUS_CHANGED_V1,
    FOLLOWUP_DUE_V1,
    FOLLOWUP_OUTCOME_V1,
    Event,
)
from complaints_devstack.service_testing import bearer

from .conftest import Provider
from .test_notifications_delivery import created, eventually, notifications, publish

pytestmark = pytest.mark.integration

CLIENT = "crm-test"
ADMIN = bearer(CLIENT, "admin-1", "admin")
OTHER_ADMIN = bearer("crm-other", "admin-2", "admin")
AGENT = bearer(CLIENT, "agent-1", "agent")
# The receiver runs on loopback over http: both must be allowed explicitly.
LOOPBACK_ALLOWED: dict[str, Any] = {"webhook_allow_http": True, "webhook_allowed_networks": ["127.0.0.0/8"]}
CHOSEN = [
    "compensation.approval_waiting",
    "complaint.status_changed",
    "followup.outcome",
    "complaint.deadline_breached",
]


def verified(secret: str, hook: tuple[dict[str, str], bytes]) -> dict[str, Any]:
    headers, body = hook
    payload: dict[str, Any] = Webhook(secret).verify(body, headers)
    return payload


async def subscribe(client: httpx.AsyncClient, url: str, event_types: list[str]) -> dict[str, Any]:
    response = await client.post("/v1/webhooks", json={"url": url, "event_types": event_types}, headers=ADMIN)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/webhooks/{body['id']}"
    return body


async def hooks_of(provider: Provider, count: int) -> list[tuple[dict[str, str], bytes]]:
    async def arrived() -> list[tuple[dict[str, str], bytes]] | None:
        return list(provider.hooks) if len(provider.hooks) >= count else None

    found = await eventually(arrived)
    assert found, f"{len(provider.hooks)} of {count} deliveries arrived"
    return list(found)


async def test_a_subscription_gets_a_signed_test_delivery_then_only_the_push_types_it_chose(
    database_url: str, kafka_bootstrap: str, topics: str, provider: Provider
) -> None:
    async with notifications(database_url, kafka_bootstrap, topics, **LOOPBACK_ALLOWED) as (app, client):
        subscription = await subscribe(client, provider.url + "/hooks", CHOSEN)
        secret = subscription["secret"]
        assert secret.startswith("whsec_") and sorted(subscription["event_types"]) == sorted(CHOSEN)
        shown = await client.get(f"/v1/webhooks/{subscription['id']}", headers=ADMIN)
        assert shown.status_code == 200 and "secret" not in shown.json() and secret not in shown.text
        listed = await client.get("/v1/webhooks", headers=ADMIN)
        assert [s["id"] for s in listed.json()] == [subscription["id"]] and secret not in listed.text

        test = await client.post(f"/v1/webhooks/{subscription['id']}/test", headers=ADMIN)
        assert test.status_code == 202, test.text
        (first,) = await hooks_of(provider, 1)
        payload = verified(secret, first)
        assert payload["type"] == "webhook.test" and payload["data"]["subscription_id"] == subscription["id"]
        assert first[0]["webhook-id"] == f"msg_{test.json()['message_id']}"

        async def recorded_sent() -> dict[str, Any] | None:
            found = (await client.get(f"/v1/deliveries/{test.json()['message_id']}", headers=ADMIN)).json()
            return found if found["status"] == "sent" else None

        # The receiver may answer before the outcome is committed.
        delivery = await eventually(recorded_sent)
        assert delivery and delivery["channel"] == "webhook" and delivery["log"][-1]["outcome"] == "sent"

        complaint_id = uuid4()
        await publish(app, created(complaint_id, email="ivan@example.com"), *journey(complaint_id))
        hooks = await hooks_of(provider, 1 + len(CHOSEN))
        # Whatever else was going to arrive has had time to.
        await asyncio.sleep(1.5)
        assert len(provider.hooks) == len(hooks), [json.loads(b)["type"] for _, b in provider.hooks]
        pushed = {p["type"]: p for p in (verified(secret, hook) for hook in hooks[1:])}
        assert set(pushed) == set(CHOSEN)
        assert pushed["compensation.approval_waiting"]["data"]["status"] == "pending_approval"
        assert pushed["compensation.approval_waiting"]["data"]["offer"]["value"] == EIGHTY
        assert "cost" not in pushed["compensation.approval_waiting"]["data"]["offer"]
        assert pushed["complaint.status_changed"]["data"]["to_status"] == "resolved"
        assert pushed["followup.outcome"]["data"]["outcome"] == "dissatisfied"
        assert pushed["complaint.deadline_breached"]["data"]["deadline_name"] == "final_response"
        assert all(p["data"]["complaint_id"] == str(complaint_id) for p in pushed.values())
        assert not any(b"ivan@example.com" in body for _, body in hooks)

        # Choosing other types: a grant now reaches it, a status change no longer does. The grant
        # is announced by compensation.granted alone and pushed as its decision record was; a
        # record with status granted beside it (published before that: an upgrade) is not pushed
        # a second time.
        changed = await client.patch(
            f"/v1/webhooks/{subscription['id']}",
            json={"event_types": ["compensation.granted"]},
            headers=ADMIN,
        )
        assert changed.status_code == 200 and changed.json()["event_types"] == ["compensation.granted"]
        decision_id, at = uuid4(), datetime.now(UTC)
        old_record = decision(complaint_id, "granted", decision_id, at)
        await publish(
            app, grant(complaint_id, decision_id, at), old_record, status_changed(complaint_id, "closed")
        )
        (*_, last) = await hooks_of(provider, 2 + len(CHOSEN))
        pushed_grant = verified(secret, last)
        assert pushed_grant["type"] == "compensation.granted"
        assert pushed_grant["data"] == {
            "complaint_id": str(complaint_id),
            "decision_id": str(decision_id),
            "customer_id": "CUST-9",
            "status": "granted",
            "offer": {"kind": "refund", "description": "Refund of the second charge", "value": EIGHTY},
            "rule_id": "approval.above-limit",
            "reason": None,
            "decided_by": "auto",
            "decided_at": old_record.data.decided_at.isoformat().replace("+00:00", "Z"),
        }
        await asyncio.sleep(1.5)
        assert len(provider.hooks) == 2 + len(CHOSEN), "the grant pushed once, the closing not at all"

        deleted = await client.delete(f"/v1/webhooks/{subscription['id']}", headers=ADMIN)
        assert deleted.status_code == 204
        assert (await client.get(f"/v1/webhooks/{subscription['id']}", headers=ADMIN)).status_code == 404


async def test_both_secrets_sign_during_a_rotations_overlap_and_other_tenants_see_nothing(
    database_url: str, kafka_bootstrap: str, topics: str, provider: Provider
) -> None:
    async with notifications(database_url, kafka_bootstrap, topics, **LOOPBACK_ALLOWED) as (_, client):
        subscription = await subscribe(client, provider.url + "/hooks", ["complaint.status_changed"])
        path = f"/v1/webhooks/{subscription['id']}"
        old = subscription["secret"]
        rotated = await client.post(f"{path}/rotate-secret", json={"overlap_seconds": 3600}, headers=ADMIN)
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != old and new.startswith("whsec_")
        states = (await client.get(path, headers=ADMIN)).json()["secrets"]
        assert len(states) == 2 and states[0]["expires_at"] is None and states[1]["expires_at"] is not None

        assert (await client.post(f"{path}/test", headers=ADMIN)).status_code == 202
        (during,) = await hooks_of(provider, 1)
        assert verified(old, during)["type"] == verified(new, during)["type"] == "webhook.test"

        # No overlap: from now on only the newest secret signs.
        newest = (
            await client.post(f"{path}/rotate-secret", json={"overlap_seconds": 0}, headers=ADMIN)
        ).json()
        assert (await client.post(f"{path}/test", headers=ADMIN)).status_code == 202
        (*_, after) = await hooks_of(provider, 2)
        assert verified(newest["secret"], after)["type"] == "webhook.test"
        for retired in (old, new):
            with pytest.raises(WebhookVerificationError):
                verified(retired, after)
        assert len((await client.get(path, headers=ADMIN)).json()["secrets"]) == 1

        # Another tenant's admin: the subscription does not exist for them.
        for method, suffix in (
            ("GET", ""),
            ("PATCH", ""),
            ("DELETE", ""),
            ("POST", "/rotate-secret"),
            ("POST", "/test"),
        ):
            body = {"event_types": ["compensation.granted"]} if method == "PATCH" else None
            response = await client.request(method, path + suffix, json=body, headers=OTHER_ADMIN)
            assert response.status_code == 404, (method, suffix, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        assert (await client.get("/v1/webhooks", headers=OTHER_ADMIN)).json() == []
        # A tenant's agent may not manage its webhooks.
        assert (await client.get("/v1/webhooks", headers=AGENT)).status_code == 403
        assert len((await client.get(path, headers=ADMIN)).json()["secrets"]) == 1
        assert len(provider.hooks) == 2


REFUSED_TARGETS = {
    "https://127.0.0.1/hooks": "loopback",
    "https://localhost/hooks": "loopback",  # resolved: every address of the name is checked
    "https://10.20.30.40/hooks": "private",
    "https://192.168.1.10:8443/hooks": "private",
    "https://169.254.169.254/latest/meta-data": "link-local",
    "https://[::1]/hooks": "loopback",
    "https://[::ffff:10.0.0.1]/hooks": "private",
    "https://100.64.0.1/hooks": "non-public",
    "http://93.184.215.14/hooks": "https",
    "https://user:pw@93.184.215.14/hooks": "credentials",
    "https://host.invalid/hooks": "resolve",
}


async def test_non_public_targets_are_refused_when_registered_and_again_when_delivered(
    database_url: str, kafka_bootstrap: str, topics: str, provider: Provider
) -> None:
    async with notifications(database_url, kafka_bootstrap, topics) as (_, client):
        for url, reason in REFUSED_TARGETS.items():
            response = await client.post(
                "/v1/webhooks", json={"url": url, "event_types": ["complaint.status_changed"]}, headers=ADMIN
            )
            assert response.status_code == 422, (url, response.text)
            problem = response.json()
            assert response.headers["content-type"] == "application/problem+json"
            assert problem["type"].endswith("/webhook-target-refused"), problem
            assert reason in problem["detail"], (url, problem["detail"])
        # A public address is accepted (an address literal: nothing to resolve here).
        public = await client.post(
            "/v1/webhooks",
            json={"url": "https://93.184.215.14/hooks", "event_types": ["followup.outcome"]},
            headers=ADMIN,
        )
        assert public.status_code == 201, public.text
        assert (await client.get("/v1/webhooks", headers=ADMIN)).json()[0][
            "url"
        ] == "https://93.184.215.14/hooks"

    # Registered while the operator allowed loopback; delivered after they stopped allowing it.
    async with notifications(database_url, kafka_bootstrap, topics, **LOOPBACK_ALLOWED) as (_, client):
        subscription = await subscribe(client, provider.url + "/hooks", ["followup.outcome"])
    async with notifications(database_url, kafka_bootstrap, topics, webhook_allow_http=True) as (_, client):
        test = await client.post(f"/v1/webhooks/{subscription['id']}/test", headers=ADMIN)
        message_id = test.json()["message_id"]

        async def failed() -> dict[str, Any] | None:
            found = (await client.get(f"/v1/deliveries/{message_id}", headers=ADMIN)).json()
            return found if found["status"] == "failed" else None

        delivery = await eventually(failed)
        assert delivery and "not allowed" in delivery["last_error"]
        assert provider.hooks == []


def journey(complaint_id: UUID) -> list[Event[Any]]:
    """A complaint's events of every push type; the test's subscription chose some of them."""
    now = datetime.now(UTC)
    return [
        decision(complaint_id, "pending_approval"),
        status_changed(complaint_id, "resolved"),
        Event(
            FOLLOWUP_OUTCOME_V1,
            FollowupOutcomeV1.model_validate(
                {
                    "complaint_id": complaint_id,
                    "client_id": CLIENT,
                    "followup_id": uuid4(),
                    "customer_id": "CUST-9",
                    "outcome": "dissatisfied",
                    "csat": 2,
                    "recorded_by": "agent-1",
                    "recorded_at": now,
                }
            ),
            "/complaints/followup",
        ),
        *(followup_due(complaint_id, kind) for kind in ("deadline_warning", "deadline_breach")),
    ]


EIGHTY = {"amount": "80.00", "currency": "EUR"}
REFUND = {"kind": "refund", "description": "Refund of the second charge", "value": EIGHTY, "cost": EIGHTY}


def decision(
    complaint_id: UUID, status: str, decision_id: UUID | None = None, at: datetime | None = None
) -> Event[CompensationDecisionRecordedV1]:
    data = CompensationDecisionRecordedV1.model_validate(
        {
            "complaint_id": complaint_id,
            "client_id": CLIENT,
            "decision_id": decision_id or uuid4(),
            "customer_id": "CUST-9",
            "status": status,
            "offer": REFUND,
            "rule_id": "approval.above-limit",
            "policy_version": "1",
            "decided_by": "auto",
            "decided_at": at or datetime.now(UTC),
        }
    )
    return Event(COMPENSATION_DECISION_RECORDED_V1, data, "/complaints/compensation")


def grant(complaint_id: UUID, decision_id: UUID, at: datetime) -> Event[CompensationGrantedV1]:
    data = CompensationGrantedV1.model_validate(
        {
            "complaint_id": complaint_id,
            "client_id": CLIENT,
            "decision_id": decision_id,
            "customer_id": "CUST-9",
            "offer": REFUND,
            "rule_id": "approval.above-limit",
            "policy_version": "1",
            "granted_by": "auto",
            "granted_at": at,
        }
    )
    return Event(COMPENSATION_GRANTED_V1, data, "/complaints/compensation")


def status_changed(complaint_id: UUID, to_status: str) -> Event[ComplaintStatusChangedV1]:
    data = ComplaintStatusChangedV1.model_validate(
        {
            "complaint_id": complaint_id,
            "client_id": CLIENT,
            "customer_id": "CUST-9",
            "from_status": "in_progress",
            "to_status": to_status,
            "actor": "agent-1",
            "changed_at": datetime.now(UTC),
        }
    )
    return Event(COMPLAINT_STATUS_CHANGED_V1, data, "/complaints/intake")


def followup_due(complaint_id: UUID, kind: str) -> Event[FollowupDueV1]:
    data = FollowupDueV1.model_validate(
        {
            "complaint_id": complaint_id,
            "client_id": CLIENT,
            "followup_id": uuid4(),
            "customer_id": "CUST-9",
            "kind": kind,
            "deadline_name": "final_response",
            "due_at": datetime.now(UTC),
            "fired_at": datetime.now(UTC),
        }
    )
    return Event(FOLLOWUP_DUE_V1, data, "/complaints/followup")
