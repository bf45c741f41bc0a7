"""Intake: where a CRM files complaints and reads them back."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from complaints_common.runtime import ServiceDefinition
from complaints_common.runtime import cli as run_cli
from complaints_intake.api.routes import complaint_router
from complaints_intake.settings import IntakeSettings
from complaints_intake.store.tables import metadata

SERVICE = ServiceDefinition(
    name="intake",
    title="Complaint intake",
    description=(
        "The CRM-facing API of the complaint-handling platform: file a complaint exactly once, "
        "read it back. Every call but /healthz, /readyz and /metrics needs an `X-API-Key`. "
        "Errors are RFC 9457 problem details."
    ),
    settings_factory=IntakeSettings,
    metadata=metadata,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda runtime: [complaint_router(runtime)],
    openapi_tags=[{"name": "complaints", "description": "File and read complaints."}],
)


def create_app() -> FastAPI:
    """For `uvicorn complaints_intake.main:create_app --factory` and for tests."""
    return SERVICE.create_app()


def cli() -> None:
    run_cli(SERVICE)
