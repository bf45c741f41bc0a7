"""Follow-up: owns time: satisfaction checks and deadlines, fired exactly once."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from complaints_common.runtime import ServiceDefinition
from complaints_common.runtime import cli as run_cli
from complaints_followup.api.routes import followup_router
from complaints_followup.events.handlers import subscriptions, timer_loop
from complaints_followup.settings import FollowupSettings
from complaints_followup.store.tables import metadata

SERVICE = ServiceDefinition(
    name="followup",
    title="Complaint follow-up",
    description=(
        "Schedules the satisfaction call-back after a complaint is settled and publishes "
        "`followup.due` when it falls due, exactly once across replicas and restarts. Every call "
        "but /healthz, /readyz and /metrics needs an `X-API-Key`. Errors are RFC 9457 problem details."
    ),
    settings_factory=FollowupSettings,
    metadata=metadata,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda runtime: [followup_router(runtime)],
    subscriptions=subscriptions,
    background=lambda runtime: [timer_loop(runtime)],
    openapi_tags=[{"name": "follow-ups", "description": "Satisfaction checks and deadline watches."}],
)


def create_app() -> FastAPI:
    return SERVICE.create_app()


def cli() -> None:
    run_cli(SERVICE)
