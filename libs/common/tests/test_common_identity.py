"""Bearer tokens verified against the issuer's JWKS, the principal they make, and the production
switch that refuses development credentials."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI
from pydantic import ValidationError

from complaints_common.api import Principal, install_common, require_scope
from complaints_common.settings import DEV_ISSUER, ApiKey, ServiceSettings
from complaints_devstack.issuer import DevIssuer
from complaints_devstack.service_testing import local_issuer


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_common(app, ServiceSettings(auth=local_issuer().settings()), {})

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(require_scope("read"))]) -> dict[str, object]:
        return {
            "client": principal.client,
            "actor": principal.actor_id,
            "role": principal.role,
            "via": principal.via,
            "scopes": sorted(principal.scopes),
        }

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_persons_token_names_the_tenant_the_person_and_the_role(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers=auth(local_issuer().token("crm-a", "sup-4", "supervisor")))
    assert response.status_code == 200, response.text
    assert response.json() | {"scopes": None} == {
        "client": "crm-a",
        "actor": "sup-4",
        "role": "supervisor",
        "via": None,
        "scopes": None,
    }


async def test_the_highest_known_role_of_a_list_counts_and_act_is_kept(client: httpx.AsyncClient) -> None:
    token = local_issuer().token("crm-a", "agent-7", None, act={"sub": "crm"}, role=["x", "agent"])
    body = (await client.get("/me", headers=auth(token))).json()
    assert (body["role"], body["via"]) == ("agent", "crm")


async def test_a_machine_token_has_only_the_scopes_it_was_given(client: httpx.AsyncClient) -> None:
    token = local_issuer().token("crm-a", "crm-a", None, scope="openid read admin")
    body = (await client.get("/me", headers=auth(token))).json()
    assert body["scopes"] == ["read"], "a token without a role never becomes an admin"
    assert body["role"] is None


def other_key_token(kid: str) -> str:
    """Signed by a key the issuer does not publish, under the published key's id."""
    stranger = DevIssuer(Path(local_issuer().directory.parent / f"stranger-{time.time_ns()}"))
    claims = {"iss": DEV_ISSUER, "aud": "complaints-api", "sub": "x", "client_id": "crm-a", "role": "agent"}
    return jwt.encode({**claims, "exp": int(time.time()) + 60}, stranger._key, "RS256", headers={"kid": kid})


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda i: i.token("crm-a", "agent-7", ttl_s=-120), id="expired beyond the leeway"),
        pytest.param(lambda i: i.token("crm-a", "agent-7", audience="someone-else"), id="wrong audience"),
        pytest.param(lambda i: i.token("crm-a", "agent-7", iss="https://evil.example"), id="wrong issuer"),
        pytest.param(lambda i: other_key_token(i.kid), id="wrongly signed"),
        pytest.param(lambda i: i.token("crm-a", "agent-7")[:-4] + "AAAA", id="tampered signature"),
        pytest.param(lambda i: i.token("", "agent-7"), id="no tenant"),
        pytest.param(
            lambda i: jwt.encode({"sub": "x", "client_id": "crm-a"}, "k" * 32, "HS256"), id="symmetric alg"
        ),
        pytest.param(lambda i: "not.a.jwt", id="not a JWT"),
    ],
)
async def test_a_bad_token_is_a_401_problem(client: httpx.AsyncClient, make: object) -> None:
    token = make(local_issuer())  # type: ignore[operator]
    response = await client.get("/me", headers=auth(token))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_token_just_expired_passes_within_the_leeway(client: httpx.AsyncClient) -> None:
    token = local_issuer().token("crm-a", "agent-7", ttl_s=-5)
    assert (await client.get("/me", headers=auth(token))).status_code == 200


def test_production_refuses_the_development_issuer_and_start_up_keys() -> None:
    with pytest.raises(ValidationError, match="development token issuer"):
        ServiceSettings(production=True, auth={"issuer": DEV_ISSUER, "jwks_file": "/dev/null"})
    with pytest.raises(ValidationError, match="start-up API keys"):
        ServiceSettings(production=True, api_keys=[ApiKey(client="c", sha256="ab" * 32)])
    with pytest.raises(ValidationError, match="PLAINTEXT"):
        ServiceSettings(production=True, auth={"issuer": "https://login.example.com/realms/crm"})
    ServiceSettings(
        production=True,
        auth={"issuer": "https://login.example.com/realms/crm"},
        kafka_security={"protocol": "SSL", "cert_file": "/c.crt", "key_file": "/c.key"},
    )
