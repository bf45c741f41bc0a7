"""Tenant isolation across the four running services, generated from their OpenAPI documents, and
API keys issued and revoked at intake honoured (and refused) by every service.

Tenant B files a complaint and the platform does its work (a decision with a voucher, follow-ups,
messages); tenant B's admin issues a key. Then, for every operation every service documents:

- one that names a resource in its path (a complaint, decision, follow-up, message, voucher or key):
  tenant A's credentials (an admin's token, so no scope stands in the way) against B's resource get
  404, exactly like a missing one;
- one that lists (a GET without a resource in its path, or a customer's listing): A's answer never
  contains B's ids, voucher code or customer contact;
- one that changes something without naming a resource: 403 when it would reach across tenants
  (another client's key, the platform's policy), else it acts for A alone; each is in a table, so a
  new operation fails this test until someone decides which it is.

Afterwards B's resources are as they were, and schemathesis sends A's generated requests to every
operation: no server error, and no response carries B's data.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import GenerationMode

from complaints_devstack.launcher import SERVICE_ORDER
from complaints_devstack.openapi_cases import draw_cases
from complaints_devstack.polling import eventually
from complaints_devstack.service_testing import bearer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

A, B = "crm-a", "crm-b"
A_ADMIN = bearer(A, "admin-a", "admin")
B_ADMIN = bearer(B, "admin-b", "admin")
B_AGENT = bearer(B, "agent-b", "agent")
B_EMAIL = "only.tenant.b@example.invalid"
# Path parameters that name one resource; `customer_id` names a listing (a customer id is per client).
RESOURCE_PARAMS = {
    "complaint_id",
    "decision_id",
    "followup_id",
    "message_id",
    "code",
    "key_id",
    "subscription_id",
}
# Operations that change something without naming a resource in their path: what A may do there.
NOT_PER_RESOURCE: dict[tuple[str, str, str], int] = {
    ("intake", "POST", "/v1/complaints"): 201,  # files A's own complaint
    ("intake", "POST", "/v1/admin/api-keys"): 403,  # a key for B's client
    ("compensation", "PUT", "/v1/policy"): 403,  # the platform's policy: an operator's only
    ("intake", "PUT", "/v1/deadline-profiles/selection"): 200,  # A's own choice of profiles
    ("intake", "POST", "/v1/customers/{customer_id}/erasure"): 202,  # A's own customer of that id
    # A's own subscription; the documented example's host does not resolve: webhook-target-refused.
    ("notifications", "POST", "/v1/webhooks"): 422,
}


# Listings whose query has required parameters: the values A asks for (B's rows must not be in them).
REQUIRED_QUERY = {
    (
        "intake",
        "/v1/reports/complaints-return",
    ): "?regime=uk-fca&from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z",  # queries reach 10 years ahead
}


def complaint(customer_email: str, reference: str) -> dict[str, Any]:
    return {
        "customer": {"customer_id": "CUST-1", "email": customer_email, "language": "en"},
        "channel": "phone",
        "category": "billing",
        "severity": "medium",
        "description": "Charged twice.",
        "amount_at_stake": {"amount": "39.90", "currency": "EUR"},
        "tags": ["order:SO-1"],
        "crm_reference": reference,
    }


async def choose_first_option(compensation: httpx.AsyncClient, complaint_id: str) -> Any:
    """An agent took the phone call: the customer's options, the first one chosen by the caller,
    and the decision it made."""

    async def offered() -> Any:
        response = await compensation.get(f"/v1/complaints/{complaint_id}/options")
        return response.json() if response.status_code == 200 else None

    options = await eventually(offered)
    assert options and options["status"] == "open", options
    first = options["options"][0]["option_id"]
    chosen = await compensation.post(f"/v1/complaints/{complaint_id}/choice", json={"option_id": first})
    assert chosen.status_code == 201, chosen.text

    async def decided() -> Any:
        response = await compensation.get(f"/v1/complaints/{complaint_id}/decision")
        return response.json() if response.status_code == 200 else None

    return await eventually(decided)


async def seed_tenant_b(platform: Any) -> dict[str, Any]:
    """B's complaint through the platform: what each service holds of it, by parameter name."""
    async with (
        platform.client("intake", B_AGENT) as intake,
        platform.client("compensation", B_AGENT) as compensation,
        platform.client("followup", B_AGENT) as followup,
        platform.client("notifications", B_AGENT) as notifications,
    ):
        filed = await intake.post("/v1/complaints", json=complaint(B_EMAIL, "B-1"))
        assert filed.status_code == 201, filed.text
        complaint_id = filed.json()["id"]

        decision = await choose_first_option(compensation, complaint_id)
        assert decision and decision["status"] == "granted" and decision["voucher_code"], decision

        async def satisfaction_check() -> list[dict[str, Any]]:
            # The grant's satisfaction check: it stays (a deadline watch ends when its deadline is met).
            found = await _json_list(followup, f"/v1/complaints/{complaint_id}/followups")
            return [f for f in found if f["kind"] == "satisfaction_check"]

        followups = await eventually(satisfaction_check)
        messages = await eventually(
            lambda: _json_list(notifications, f"/v1/complaints/{complaint_id}/messages")
        )
        assert followups and messages
    async with platform.client("intake", B_ADMIN) as admin:
        key = await admin.post("/v1/admin/api-keys", json={"scopes": ["read"], "label": "b"})
        assert key.status_code == 201, key.text
    async with platform.client("notifications", B_ADMIN) as admin:
        # Nothing listens there, and nothing in the test is ever declined: no push is attempted.
        hook = {"url": "http://127.0.0.1:9/hooks", "event_types": ["compensation.declined"]}
        subscription = await admin.post("/v1/webhooks", json=hook)
        assert subscription.status_code == 201, subscription.text
    return {
        "complaint_id": complaint_id,
        "reference": filed.json()["reference"],
        "decision_id": decision["id"],
        "code": decision["voucher_code"],
        "followup_id": followups[0]["id"],
        "message_id": messages[0]["id"],
        "key_id": key.json()["id"],
        "subscription_id": subscription.json()["id"],
        "customer_id": "CUST-1",
    }


async def _json_list(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    response = await client.get(path)
    return list(response.json()) if response.status_code == 200 else []


def leaks(text: str, b: dict[str, Any]) -> list[str]:
    """B's ids, voucher code, reference or customer contact found in a response to A."""
    marks = [
        b[k]
        for k in (
            "complaint_id",
            "decision_id",
            "code",
            "followup_id",
            "message_id",
            "key_id",
            "subscription_id",
        )
    ]
    return [mark for mark in [*marks, b["reference"], B_EMAIL] if mark in text]


def example_body(operation: dict[str, Any], spec: dict[str, Any]) -> Any:
    """The documented example of the operation's body (its schema's first example), or {}; a
    `client_id` the body may carry names B."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    schema = content.get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    body = dict((schema.get("examples") or [{}])[0])
    return body | {"client_id": B} if "client_id" in schema.get("properties", {}) else body


async def call(client: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    return await client.request(method, path, json=body if method != "GET" else None)


async def test_tenant_a_never_reaches_tenant_bs_resources_through_any_documented_operation(
    platform: Any,
) -> None:
    b = await seed_tenant_b(platform)
    await customer_ids_and_orders_are_the_clients_own(platform)
    checked: dict[str, int] = {}
    failures: list[str] = []
    for service in SERVICE_ORDER:
        async with platform.client(service, A_ADMIN) as client:
            spec = (await client.get("/openapi.json")).json()
            for path, item in spec["paths"].items():
                if not path.startswith("/v1/"):
                    continue
                for method, operation in item.items():
                    label = f"{service} {method.upper()} {path}"
                    params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
                    url = path
                    for name in params:
                        url = url.replace("{" + name + "}", str(b[name]))
                    url += REQUIRED_QUERY.get((service, path), "")
                    body = example_body(operation, spec)
                    response = await call(client, method.upper(), url, body)
                    checked[label] = response.status_code
                    if params & RESOURCE_PARAMS:
                        if response.status_code != 404:
                            failures.append(
                                f"{label}: {response.status_code}, not 404: {response.text[:200]}"
                            )
                    elif method == "get":
                        if response.status_code != 200:
                            failures.append(f"{label}: listing answered {response.status_code}")
                    else:
                        expected = NOT_PER_RESOURCE.get((service, method.upper(), path))
                        if expected is None:
                            failures.append(f"{label}: not in NOT_PER_RESOURCE; decide what A may do there")
                        elif response.status_code != expected:
                            failures.append(f"{label}: {response.status_code}, expected {expected}")
                    found = leaks(response.text, b)
                    if found:
                        failures.append(f"{label}: B's data in A's answer: {found}")
    assert len(checked) >= 25, checked
    assert not failures, "\n".join(failures)
    await b_is_untouched(platform, b)
    await schemathesis_as_a_finds_no_error_and_no_leak(platform, b)


async def customer_ids_and_orders_are_the_clients_own(platform: Any) -> None:
    """A's CUST-1 with order SO-1 is granted although B's CUST-1 was for SO-1: neither B's grant
    nor B's order trips A's abuse rules."""
    async with (
        platform.client("intake", A_ADMIN) as intake,
        platform.client("compensation", A_ADMIN) as compensation,
    ):
        filed = await intake.post("/v1/complaints", json=complaint("a.customer@example.invalid", "A-1"))
        complaint_id = filed.json()["id"]

        decision = await choose_first_option(compensation, complaint_id)
        assert decision and (decision["status"], decision["rule_id"]) == ("granted", "any.billing-credit")


async def b_is_untouched(platform: Any, b: dict[str, Any]) -> None:
    """What A's calls tried to change is as it was for B."""
    async with platform.client("compensation", B_AGENT) as compensation:
        decision = (await compensation.get(f"/v1/decisions/{b['decision_id']}")).json()
        assert (decision["status"], decision["voucher_status"]) == ("granted", "active")
    async with platform.client("followup", B_AGENT) as followup:
        assert (await followup.get(f"/v1/followups/{b['followup_id']}")).json()["status"] != "cancelled"
    async with platform.client("intake", B_ADMIN) as intake:
        keys = (await intake.get("/v1/admin/api-keys")).json()
        assert [k["revoked_at"] for k in keys if k["id"] == b["key_id"]] == [None]
        assert (await intake.get(f"/v1/complaints/{b['complaint_id']}")).status_code == 200
    async with platform.client("notifications", B_ADMIN) as notifications:
        subscription = (await notifications.get(f"/v1/webhooks/{b['subscription_id']}")).json()
        assert subscription["event_types"] == ["compensation.declined"] and len(subscription["secrets"]) == 1


async def schemathesis_as_a_finds_no_error_and_no_leak(platform: Any, b: dict[str, Any]) -> None:
    """Generated requests with A's credentials, B's ids among the path values: no 5xx, no leak."""
    failures: list[str] = []
    sent = 0
    for service in SERVICE_ORDER:
        async with platform.client(service, A_ADMIN) as client:
            spec = (await client.get("/openapi.json")).json()
            schema = schemathesis.openapi.from_dict(spec)
            for result in schema.get_all_operations():
                operation = result.ok()
                for number, case in enumerate(
                    await asyncio.to_thread(draw_cases, operation, GenerationMode.POSITIVE, 5)
                ):
                    if number == 0 and case.path_parameters:
                        # One case per operation aims at B's resource itself.
                        case.path_parameters = {k: b.get(k, v) for k, v in case.path_parameters.items()}
                    kwargs = case.as_transport_kwargs(base_url=platform.url(service))
                    kwargs.pop("cookies", None)
                    kwargs["headers"] = {**(kwargs.get("headers") or {}), **A_ADMIN}
                    response = await client.request(**kwargs)
                    sent += 1
                    if response.status_code >= 500:
                        failures.append(f"{service} {operation.label}: {response.status_code}")
                    found = leaks(response.text, b)
                    if found:
                        failures.append(f"{service} {operation.label}: B's data {found}")
    assert sent > 50
    assert not failures, "\n".join(failures[:10])


async def test_a_key_revoked_through_the_admin_api_stops_working_on_all_four_services(
    platform: Any,
) -> None:
    async with platform.client("intake", B_ADMIN) as admin:
        issued = await admin.post("/v1/admin/api-keys", json={"scopes": ["read"], "label": "rotating"})
        assert issued.status_code == 201, issued.text
        assert issued.json()["issued_by"] == "admin-b"
        key = {"X-API-Key": issued.json()["key"]}
        probes = {
            "intake": "/v1/complaints",
            "compensation": "/v1/decisions",
            "followup": "/v1/worklists",
            "notifications": "/v1/customers/CUST-1/deliveries",
        }

        async def statuses() -> dict[str, int]:
            found = {}
            for service, path in probes.items():
                async with platform.client(service, key) as client:
                    found[service] = (await client.get(path)).status_code
            return found

        honoured = await eventually(lambda: _all(statuses, 200), timeout=30)
        assert honoured, f"the issued key is not honoured everywhere: {await statuses()}"
        revoked_at = time.monotonic()
        revoked = await admin.delete(f"/v1/admin/api-keys/{issued.json()['id']}")
        assert revoked.json()["revoked_by"] == "admin-b"
        refused = await eventually(lambda: _all(statuses, 401), timeout=30)
        took = time.monotonic() - revoked_at
        assert refused, f"still honoured after revocation: {await statuses()}"
        print(f"revocation reached all four services in {took:.1f} s")
        assert took < 10, "revocation must reach every service within seconds"


async def _all(statuses: Any, code: int) -> bool:
    return set((await statuses()).values()) == {code}
