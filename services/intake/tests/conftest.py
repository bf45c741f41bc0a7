"""Intake's test fixtures: the shared server fixtures, and one running intake per test.

The shared server fixtures (`database_url`, `kafka_bootstrap`, `topics`) come from the repo-root
conftest.py.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from complaints_common.runtime import Mode
from complaints_devstack.service_testing import running_service, test_settings
from complaints_intake.api.models import EXAMPLE_DRAFT
from complaints_intake.main import SERVICE
from complaints_intake.settings import IntakeSettings


def intake_settings(database_url: str, kafka_bootstrap: str, topics: str, **overrides: Any) -> IntakeSettings:
    return test_settings(IntakeSettings, database_url, kafka_bootstrap, topics, **overrides)


def draft(**changes: Any) -> dict[str, Any]:
    """The example complaint without its CRM reference (unique per client), with `changes`."""
    body = copy.deepcopy(EXAMPLE_DRAFT)
    body.pop("crm_reference")
    body.update(changes)
    return body


@pytest.fixture
async def intake(
    request: pytest.FixtureRequest, database_url: str, kafka_bootstrap: str, topics: str
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """Intake running in-process on a fresh database and topics, with an all-scopes key: API and
    worker, or for a test marked `api_only` (what the API answers and stores, no event consumed)
    an API process alone, which has the same routes and no consumers to wait about a second for."""
    mode = Mode.API if request.node.get_closest_marker("api_only") else Mode.SERVE
    settings = intake_settings(database_url, kafka_bootstrap, topics)
    async with running_service(SERVICE, settings, mode) as running:
        yield running
