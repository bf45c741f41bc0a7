"""The HTTP plumbing every service shares: API keys and scopes, problem details, health, metrics."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from complaints_common.api import (
    API_KEY_HEADER,
    NotReady,
    Principal,
    auth_challenges,
    hash_key,
    install_common,
    require_scope,
)
from complaints_common.problems import DEFAULT_PROBLEM_BASE_URI, Conflict, or_not_found, www_authenticate
from complaints_common.settings import ApiKey, ServiceSettings
from complaints_devstack.ports import free_port
from complaints_devstack.service_testing import bearer, local_issuer

SECRET_EMAIL = "philomena.grubb+api@example.invalid"
PROBLEM_JSON = "application/problem+json"

FILE_KEY = "file-key-0123456789"
READ_KEY = "read-key-0123456789"
ADMIN_KEY = "admin-key-0123456789"


class Filing(BaseModel):
    reference: str = Field(max_length=10)
    severity: Literal["low", "high"]
    amount: int = Field(ge=0)


class Health:
    """Readiness checks whose outcome a test flips."""

    def __init__(self) -> None:
        self.broker_down = False
        self.worker_waits_for: str | None = None

    async def database(self) -> None:
        return None

    async def broker(self) -> None:
        if self.broker_down:
            raise ConnectionRefusedError(f"broker refused {SECRET_EMAIL}")

    async def worker(self) -> None:
        if self.worker_waits_for:
            raise NotReady(self.worker_waits_for)


def build_app(health: Health) -> FastAPI:
    app = FastAPI()
    keys = [
        ApiKey(client="crm-filer", sha256=hash_key(FILE_KEY), scopes=["file"]),
        ApiKey(client="crm-reader", sha256=hash_key(READ_KEY), scopes=["read"]),
        ApiKey(client="ops", sha256=hash_key(ADMIN_KEY), scopes=["admin"]),
    ]
    settings = ServiceSettings(api_keys=keys, auth=local_issuer().settings(), max_body_bytes=4096)
    install_common(
        app, settings, {"database": health.database, "broker": health.broker, "worker": health.worker}
    )

    @app.post("/filings")
    async def file_one(
        body: Filing, principal: Annotated[Principal, Depends(require_scope("file"))]
    ) -> dict[str, str]:
        return {"client": principal.client, "reference": body.reference}

    @app.get("/filings/{filing_id}")
    async def read_one(
        filing_id: str, principal: Annotated[Principal, Depends(require_scope("read"))]
    ) -> dict[str, str]:
        found = or_not_found(None if filing_id == "missing" else filing_id, "No such filing.")
        if found == "taken":
            raise Conflict("The filing was changed meanwhile.")
        return {"id": found, "client": principal.client}

    @app.get("/crash")
    async def crash() -> None:
        # What an unexpected database error looks like: its text carries the SQL parameters.
        raise IntegrityError(
            "INSERT INTO intake.customers (email) VALUES ($1)",
            (SECRET_EMAIL,),
            Exception(f"duplicate key value violates unique constraint; Key (email)=({SECRET_EMAIL})"),
        )

    @app.get("/restarting")
    async def restarting() -> None:
        raise ConnectionRefusedError("connection to server at 10.0.0.5 refused")

    return app


@pytest.fixture
def health() -> Health:
    return Health()


@pytest.fixture
async def client(health: Health) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(health), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


VALID = {"reference": "R-1", "severity": "low", "amount": 5}


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"]
    return body


# --- authentication and scopes ------------------------------------------------------------------------


async def test_no_key_is_401_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/filings", json=VALID), 401)
    assert API_KEY_HEADER in str(body["detail"])


async def test_a_wrong_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/filings", json=VALID, headers={API_KEY_HEADER: "not-a-key"})
    assert_problem(response, 401)
    assert "not-a-key" not in response.text


async def test_an_empty_key_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/filings", json=VALID, headers={API_KEY_HEADER: ""}), 401)


async def test_a_key_without_the_scope_is_403(client: httpx.AsyncClient) -> None:
    response = await client.post("/filings", json=VALID, headers={API_KEY_HEADER: READ_KEY})
    body = assert_problem(response, 403)
    assert "'file'" in str(body["detail"])


async def test_a_key_with_the_scope_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/filings", json=VALID, headers={API_KEY_HEADER: FILE_KEY})
    assert response.status_code == 200, response.text
    assert response.json() == {"client": "crm-filer", "reference": "R-1"}


async def test_a_persons_token_passes_with_its_roles_scopes(client: httpx.AsyncClient) -> None:
    response = await client.post("/filings", json=VALID, headers=bearer("crm-a", "agent-7", "agent"))
    assert response.status_code == 200, response.text
    assert response.json()["client"] == "crm-a"


async def test_a_body_over_the_limit_is_a_413_problem(client: httpx.AsyncClient) -> None:
    big = {**VALID, "reference": "x" * 5000}
    assert_problem(await client.post("/filings", json=big, headers={API_KEY_HEADER: FILE_KEY}), 413)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000  # no Content-Length: counted as it streams

    response = await client.post(
        "/filings", content=chunks(), headers={API_KEY_HEADER: FILE_KEY, "content-type": "application/json"}
    )
    assert_problem(response, 413)


@pytest.mark.parametrize(("method", "path"), [("POST", "/filings"), ("GET", "/filings/f-1")])
async def test_an_admin_key_passes_any_scope(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(
        method, path, json=VALID if method == "POST" else None, headers={API_KEY_HEADER: ADMIN_KEY}
    )
    assert response.status_code == 200, response.text
    assert response.json()["client"] == "ops"


async def test_keys_are_checked_per_route(client: httpx.AsyncClient) -> None:
    ok = await client.get("/filings/f-1", headers={API_KEY_HEADER: READ_KEY})
    assert ok.status_code == 200
    assert_problem(await client.get("/filings/f-1", headers={API_KEY_HEADER: FILE_KEY}), 403)


def test_only_the_digest_of_a_key_is_kept() -> None:
    key = ApiKey(client="c", sha256=hash_key("s3cret"))
    assert key.sha256 == hashlib.sha256(b"s3cret").hexdigest()
    assert "s3cret" not in key.model_dump_json()
    assert key.scopes == ["file", "read"]


# --- problem details ----------------------------------------------------------------------------------


async def test_a_validation_error_is_422_naming_the_field_without_the_value(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/filings",
        json={"reference": SECRET_EMAIL, "severity": SECRET_EMAIL, "amount": 1},
        headers={API_KEY_HEADER: FILE_KEY},
    )
    body = assert_problem(response, 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    fields = {error["field"] for error in errors}
    assert fields == {"body.reference", "body.severity"}
    for error in errors:
        assert error["message"]
        assert error["type"]
        assert "input" not in error
    assert SECRET_EMAIL not in response.text
    assert "philomena" not in response.text


async def test_a_missing_field_and_a_bad_path_value_are_named(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/filings", json={"reference": "R-1", "amount": -1}, headers={API_KEY_HEADER: FILE_KEY}
    )
    body = assert_problem(response, 422)
    assert isinstance(body["errors"], list)
    assert {e["field"] for e in body["errors"]} == {"body.severity", "body.amount"}


async def test_a_body_that_is_not_json_is_400_and_valid_json_with_bad_content_is_422(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/filings",
        content=f'{{"reference": "{SECRET_EMAIL}"',
        headers={API_KEY_HEADER: FILE_KEY, "content-type": "application/json"},
    )
    malformed = assert_problem(response, 400)
    assert malformed["type"] == DEFAULT_PROBLEM_BASE_URI + "malformed-request"
    assert SECRET_EMAIL not in response.text
    invalid = assert_problem(
        await client.post("/filings", json={**VALID, "severity": "dire"}, headers={API_KEY_HEADER: FILE_KEY}),
        422,
    )
    assert invalid["type"] == DEFAULT_PROBLEM_BASE_URI + "request-validation-failed"


async def test_every_401_names_the_schemes_in_www_authenticate(client: httpx.AsyncClient) -> None:
    for headers in ({}, {API_KEY_HEADER: "not-a-key"}):
        response = await client.post("/filings", json=VALID, headers=headers)
        assert response.status_code == 401
        # This app trusts the test issuer: bearer tokens first, then the API key.
        assert response.headers["www-authenticate"] == 'Bearer realm="complaints", ApiKey header="X-API-Key"'
    assert www_authenticate(auth_challenges(bearer_accepted=False)) == 'ApiKey header="X-API-Key"'
    ok = await client.get("/filings/1", headers={API_KEY_HEADER: READ_KEY})
    assert "www-authenticate" not in ok.headers


async def test_problem_types_are_absolute_and_one_per_kind(client: httpx.AsyncClient) -> None:
    raised = assert_problem(await client.get("/filings/missing", headers={API_KEY_HEADER: READ_KEY}), 404)
    no_route = assert_problem(await client.get("/no/such/route", headers={API_KEY_HEADER: READ_KEY}), 404)
    assert raised["type"] == no_route["type"] == DEFAULT_PROBLEM_BASE_URI + "not-found"
    assert raised["title"] == no_route["title"]
    wrong_method = assert_problem(await client.delete("/filings"), 405)
    assert wrong_method["type"] == DEFAULT_PROBLEM_BASE_URI + "method-not-allowed"


async def test_raised_problems_keep_their_status(client: httpx.AsyncClient) -> None:
    missing = assert_problem(await client.get("/filings/missing", headers={API_KEY_HEADER: READ_KEY}), 404)
    assert missing["detail"] == "No such filing."
    assert_problem(await client.get("/filings/taken", headers={API_KEY_HEADER: READ_KEY}), 409)


async def test_an_unknown_path_is_a_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nowhere"), 404)


async def test_an_unexpected_error_is_a_500_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/crash"), 500)


async def test_an_unexpected_error_does_not_leak_its_message(client: httpx.AsyncClient) -> None:
    response = await client.get("/crash")
    assert response.status_code == 500
    assert SECRET_EMAIL not in response.text
    assert "INSERT INTO" not in response.text


# --- health and metrics -------------------------------------------------------------------------------


async def test_healthz_is_200_without_a_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_when_every_check_passes(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": ["broker", "database", "worker"]}


async def test_readyz_is_503_naming_the_failed_check(client: httpx.AsyncClient, health: Health) -> None:
    health.broker_down = True
    response = await client.get("/readyz")
    body = assert_problem(response, 503)
    assert "broker" in str(body["detail"])
    assert "database" not in str(body["detail"])
    assert SECRET_EMAIL not in response.text
    health.broker_down = False
    assert (await client.get("/readyz")).status_code == 200


async def test_readyz_says_what_a_worker_still_waits_for(client: httpx.AsyncClient, health: Health) -> None:
    health.worker_waits_for = "consumer group intake has not been assigned partitions yet"
    body = assert_problem(await client.get("/readyz"), 503)
    assert body["detail"] == "Not ready: worker (consumer group intake has not been assigned partitions yet)."
    health.worker_waits_for = None
    assert (await client.get("/readyz")).status_code == 200


async def test_metrics_serve_prometheus_text_with_route_templates(client: httpx.AsyncClient) -> None:
    await client.get("/filings/f-4711-unique", headers={API_KEY_HEADER: READ_KEY})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE complaints_http_request_duration_seconds histogram" in text
    assert 'route="/filings/{filing_id}"' in text
    assert "f-4711-unique" not in text, "raw paths would explode label cardinality"


async def test_a_dependency_restarting_is_a_503_to_retry_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/restarting")
    body = assert_problem(response, 503)
    assert response.headers["retry-after"] == "2"
    assert "10.0.0.5" not in str(body)


@pytest.mark.parametrize("path, status", [("/restarting", 503), ("/crash", 500)])
async def test_database_errors_are_answered_in_the_app_not_re_raised_to_the_server(
    health: Health, caplog: pytest.LogCaptureFixture, path: str, status: int
) -> None:
    """Starlette re-raises what reaches its catch-all, and the server logs it with its message."""
    transport = httpx.ASGITransport(app=build_app(health), raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(path)
    assert_problem(response, status)
    assert SECRET_EMAIL not in caplog.text and "10.0.0.5" not in caplog.text


async def test_an_unexpected_error_is_logged_with_its_frames_not_its_message(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await client.get("/crash")
    [record] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert "in crash" in record.stack, "the frame that raised"
    assert record.error.startswith("IntegrityError(")
    assert SECRET_EMAIL not in caplog.text


async def test_the_published_422_schema_is_the_one_answered(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    error = spec["components"]["schemas"]["ValidationError"]
    assert error["required"] == ["field", "loc", "message", "type"]
    response = await client.post("/filings", json={}, headers={"X-API-Key": FILE_KEY})
    assert set(response.json()["errors"][0]) == set(error["properties"])


# --- shutdown ------------------------------------------------------------------------------------


async def test_a_request_still_running_when_the_shutdown_grace_runs_out_is_a_503_problem() -> None:
    """uvicorn cancels it; without ShutdownCutoffMiddleware the client got uvicorn's plain 500."""
    app = build_app(Health())
    entered = asyncio.Event()

    @app.get("/slow")
    async def slow() -> None:
        entered.set()
        await asyncio.Event().wait()  # outlasts the grace: a request stuck behind a busy database

    port = free_port()
    config = uvicorn.Config(app, port=port, log_config=None, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        request = asyncio.create_task(http.get("/slow"))
        await entered.wait()
        server.should_exit = True  # what SIGTERM does
        response = await request
    await serving
    body = assert_problem(response, 503)
    assert str(body["type"]).endswith("/service-unavailable")
    assert response.headers["retry-after"] == "1"
