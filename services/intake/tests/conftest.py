"""Intake's test fixtures: the shared server fixtures, and one running intake per test.

The shared fixtures (`database_url`, `kafka_bootstrap`, `topics`) live in tests/conftest.py and are
moving to the repo-root conftest.py; until that lands they are loaded from tests/conftest.py here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from complaints_devstack.service_testing import running_service, test_settings
from complaints_intake.main import SERVICE
from complaints_intake.settings import IntakeSettings

ROOT = Path(__file__).resolve().parents[3]

if not (ROOT / "conftest.py").exists():
    _spec = importlib.util.spec_from_file_location("_intake_shared_fixtures", ROOT / "tests" / "conftest.py")
    assert _spec is not None and _spec.loader is not None
    _shared = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_shared)
    pg_server_url = _shared.pg_server_url
    database_url = _shared.database_url
    kafka_bootstrap = _shared.kafka_bootstrap
    topic_prefix = _shared.topic_prefix
    topics = _shared.topics


def intake_settings(database_url: str, kafka_bootstrap: str, topics: str, **overrides: Any) -> IntakeSettings:
    return test_settings(IntakeSettings, database_url, kafka_bootstrap, topics, **overrides)


@pytest.fixture
async def intake(
    database_url: str, kafka_bootstrap: str, topics: str
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """Intake running in-process on a fresh database and topics, with an all-scopes key."""
    async with running_service(SERVICE, intake_settings(database_url, kafka_bootstrap, topics)) as running:
        yield running
