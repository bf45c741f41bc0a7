"""Access: issued keys, scopes, confidential complaints, and the per-client rate limit."""

from __future__ import annotations

import httpx
import pytest

from complaints_devstack.service_testing import bearer, running_service
from complaints_intake.main import SERVICE

from .conftest import draft, intake_settings

pytestmark = pytest.mark.integration


OPERATOR = bearer("crm-ops", "operator-1", "platform-operator")


async def issue(
    admin: httpx.AsyncClient, scopes: list[str], client_id: str = "crm-test", **headers: str
) -> str:
    response = await admin.post(
        "/v1/admin/api-keys", json={"client_id": client_id, "scopes": scopes}, headers=headers
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


async def test_keys_scopes_and_confidential_complaints(
    database_url: str, kafka_bootstrap: str, topics: str
) -> None:
    settings = intake_settings(database_url, kafka_bootstrap, topics)
    async with running_service(SERVICE, settings) as (_, admin):
        secret = (await admin.post("/v1/complaints", json=draft(confidential=True))).json()
        plain = (await admin.post("/v1/complaints", json=draft())).json()
        reader_key = await issue(admin, ["file", "read"])
        trusted_key = await issue(admin, ["read", "confidential"])
        stranger_key = await issue(admin, ["read"], client_id="crm-other", **OPERATOR)

        reader = {"X-API-Key": reader_key}
        assert (await admin.get(f"/v1/complaints/{plain['id']}", headers=reader)).status_code == 200
        hidden = await admin.get(f"/v1/complaints/{secret['id']}", headers=reader)
        assert hidden.status_code == 404
        listed = (await admin.get("/v1/complaints", headers=reader)).json()["items"]
        assert [c["id"] for c in listed] == [plain["id"]]
        history = await admin.get(f"/v1/complaints/{secret['id']}/history", headers=reader)
        assert history.status_code == 404

        trusted = {"X-API-Key": trusted_key}
        assert (await admin.get(f"/v1/complaints/{secret['id']}", headers=trusted)).status_code == 200
        stranger = {"X-API-Key": stranger_key}
        assert (await admin.get(f"/v1/complaints/{plain['id']}", headers=stranger)).status_code == 404

        forbidden = await admin.post(
            f"/v1/complaints/{plain['id']}/transitions", json={"action": "start"}, headers=reader
        )
        assert forbidden.status_code == 403
        assert forbidden.headers["content-type"].startswith("application/problem+json")
        assert (await admin.get("/v1/admin/api-keys", headers=reader)).status_code == 403
        other_tenant = {"client_id": "crm-other", "scopes": ["read"]}
        refused = await admin.post("/v1/admin/api-keys", json=other_tenant)
        assert refused.status_code == 403, "admin is per tenant: no keys for another client"

        keys = (await admin.get("/v1/admin/api-keys")).json()
        assert all("key" not in k and "sha256" not in k for k in keys)
        assert {k["client_id"] for k in keys} == {"crm-test"}, "a tenant's admin sees its own keys only"
        everyone = (await admin.get("/v1/admin/api-keys", headers=OPERATOR)).json()
        assert {k["client_id"] for k in everyone} == {"crm-test", "crm-other"}
        [theirs] = [k for k in everyone if k["client_id"] == "crm-other"]
        assert theirs["issued_by"] == "operator-1", "issuance is audited with its issuer"
        assert (await admin.delete(f"/v1/admin/api-keys/{theirs['id']}")).status_code == 404
        reader_id = next(k["id"] for k in keys if k["scopes"] == ["file", "read"])
        assert (await admin.delete(f"/v1/admin/api-keys/{reader_id}")).json()["revoked_at"]
        revoked = await admin.get(f"/v1/complaints/{plain['id']}", headers=reader)
        assert revoked.status_code == 401
        no_key = await admin.get(f"/v1/complaints/{plain['id']}", headers={"X-API-Key": ""})
        assert no_key.status_code == 401


async def test_a_client_over_its_rate_limit_gets_429(
    database_url: str, kafka_bootstrap: str, topics: str
) -> None:
    settings = intake_settings(database_url, kafka_bootstrap, topics, rate_limit="5/minute")
    async with running_service(SERVICE, settings) as (_, client):
        statuses = [(await client.get("/v1/complaints")).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        limited = await client.get("/v1/complaints")
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json()["type"].endswith("too-many-requests")
        assert (await client.get("/healthz")).status_code == 200
