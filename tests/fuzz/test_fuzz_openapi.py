"""schemathesis over every service's OpenAPI, in-process on the real database and broker.

For each service, whatever operations its OpenAPI lists (the services grow while this test stays):
valid and invalid requests generated from the schema must never get a server error, responses must
match the documented schema, and every /v1 operation must answer 401 without an API key.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from complaints_common.runtime import Mode, ServiceDefinition
from complaints_common.settings import ServiceSettings
from complaints_compensation.main import SERVICE as COMPENSATION
from complaints_compensation.settings import CompensationSettings
from complaints_devstack.openapi_cases import draw_cases
from complaints_devstack.service_testing import running_service
from complaints_devstack.service_testing import test_settings as service_settings
from complaints_followup.main import SERVICE as FOLLOWUP
from complaints_followup.settings import FollowupSettings
from complaints_intake.main import SERVICE as INTAKE
from complaints_intake.settings import IntakeSettings
from complaints_notifications.main import SERVICE as NOTIFICATIONS
from complaints_notifications.settings import NotificationSettings

pytestmark = pytest.mark.integration

SERVICES: dict[str, tuple[ServiceDefinition, type[ServiceSettings]]] = {
    "intake": (INTAKE, IntakeSettings),
    "compensation": (COMPENSATION, CompensationSettings),
    "followup": (FOLLOWUP, FollowupSettings),
    "notifications": (NOTIFICATIONS, NotificationSettings),
}
# Per operation and generation mode: enough to find a crash, small enough for ~90 s in all.
EXAMPLES = 10
CHECKS = [not_a_server_error, response_schema_conformance]
BASE_URL = "http://test"


def running(
    service: str, database_url: str, kafka_bootstrap: str, topics: str, mode: Mode = Mode.SERVE
) -> AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]:
    """The named service, migrated and serving in-process on the test database and broker. A check
    of what the API answers alone runs it as an API process (`Mode.API`: the same routes, no worker
    whose consumers would first wait about a second to join their groups)."""
    definition, settings_cls = SERVICES[service]
    settings = service_settings(settings_cls, database_url, kafka_bootstrap, topics)
    return running_service(definition, settings, mode)


def operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_dict(app.openapi())
    return [result.ok() for result in schema.get_all_operations()]


async def send(client: httpx.AsyncClient, case: Any) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    kwargs.pop("cookies", None)
    return await client.request(**kwargs)


@pytest.mark.parametrize("service", list(SERVICES))
async def test_fuzz_every_operation_of_a_service(
    service: str, database_url: str, kafka_bootstrap: str, topics: str
) -> None:
    failures: list[str] = []
    sent = 0
    async with running(service, database_url, kafka_bootstrap, topics) as (app, client):
        found = operations(app)
        assert found, f"{service} lists no operation in its OpenAPI"
        for operation in found:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                cases = await asyncio.to_thread(draw_cases, operation, mode, EXAMPLES)
                for case in cases:
                    try:
                        response = await send(client, case)
                    except UnicodeEncodeError:
                        continue  # a drawn header no HTTP client can send (non-Latin-1 text)
                    sent += 1
                    try:
                        case.validate_response(response, checks=CHECKS)
                    except (Exception, BaseExceptionGroup) as exc:  # one group listing every failed check
                        failures.append(f"{operation.label} [{mode.value}] -> {response.status_code}: {exc}")
    assert sent > 0
    assert not failures, f"{len(failures)} of {sent} requests failed:\n" + "\n\n".join(failures[:5])


@pytest.mark.parametrize("service", list(SERVICES))
async def test_every_v1_operation_needs_a_key(
    service: str, database_url: str, kafka_bootstrap: str, topics: str
) -> None:
    refused: dict[str, int] = {}
    async with running(service, database_url, kafka_bootstrap, topics, Mode.API) as (app, _):
        protected = [op for op in operations(app) if op.path.startswith("/v1/")]
        assert protected, f"{service} lists no /v1 operation"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as anonymous:
            for operation in protected:
                (case,) = await asyncio.to_thread(draw_cases, operation, GenerationMode.POSITIVE, 1)
                kwargs = case.as_transport_kwargs(base_url=BASE_URL)
                kwargs.pop("cookies", None)
                kwargs["headers"] = {
                    k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "x-api-key"
                }
                response = await anonymous.request(**kwargs)
                refused[operation.label] = response.status_code
                if response.status_code == 401:
                    assert response.headers["content-type"].startswith("application/problem+json")
    assert all(code == 401 for code in refused.values()), refused
