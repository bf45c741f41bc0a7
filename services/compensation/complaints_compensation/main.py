"""Compensation: decides and grants compensation within the front line's authority."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from complaints_common.runtime import ServiceDefinition
from complaints_common.runtime import cli as run_cli
from complaints_compensation.api.routes import decision_router
from complaints_compensation.events.handlers import subscriptions
from complaints_compensation.settings import CompensationSettings
from complaints_compensation.store.tables import metadata

SERVICE = ServiceDefinition(
    name="compensation",
    title="Complaint compensation",
    description=(
        "Decides the compensation a complaint earns under the policy, grants it at once within the "
        "front line's authority and publishes `compensation.granted`. Every call but /healthz, "
        "/readyz and /metrics needs an `X-API-Key`. Errors are RFC 9457 problem details."
    ),
    settings_factory=CompensationSettings,
    metadata=metadata,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda runtime: [decision_router(runtime)],
    subscriptions=subscriptions,
    openapi_tags=[{"name": "decisions", "description": "Compensation decisions."}],
)


def create_app() -> FastAPI:
    return SERVICE.create_app()


def cli() -> None:
    run_cli(SERVICE)
