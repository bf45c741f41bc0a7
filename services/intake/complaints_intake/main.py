"""Intake: where a CRM files complaints and reads them back."""

from __future__ import annotations

import sys
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI

from complaints_common.events import envelope as ev
from complaints_common.runtime import ServiceDefinition
from complaints_common.runtime import cli as run_cli
from complaints_intake.api import admin, deadline_profiles, erasure, insights, reports, routes, search
from complaints_intake.api.access import within_rate_limit
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.events.handlers import subscriptions
from complaints_intake.housekeeping import housekeeping
from complaints_intake.settings import IntakeSettings
from complaints_intake.store.tables import metadata


def guarded(_: IntakeDependencies) -> list[APIRouter]:
    """Every API router behind the per-client rate limit (routes take the dependencies themselves)."""
    outer = APIRouter(dependencies=[Depends(within_rate_limit)])
    # The search router first: its GET /v1/complaints must not be shadowed by /{complaint_id}.
    for module in (search, routes, insights, deadline_profiles, reports, erasure, admin):
        outer.include_router(module.router)
    return [outer]


SERVICE = ServiceDefinition(
    name="intake",
    title="Complaint intake",
    description=(
        "The CRM-facing API of the complaint-handling platform: file a complaint exactly once "
        "(`Idempotency-Key`), read it back with its whole journey, move it through its life "
        "(received, acknowledged, in progress, resolved, closed; reopen, escalate, pause the clock). "
        "Every call but /healthz, /readyz and /metrics needs a bearer token (OpenID Connect) or an "
        "`X-API-Key`; the OpenAPI document itself (/openapi.json, /docs) is public. "
        "Errors are RFC 9457 problem details."
    ),
    settings_factory=IntakeSettings,
    metadata=metadata,
    migrations=Path(__file__).parent / "migrations",
    dependencies=IntakeDependencies.build,
    consumes=(
        ev.NOTIFICATION_STATUS_V1,
        ev.COMPENSATION_GRANTED_V1,
        ev.COMPENSATION_DECISION_RECORDED_V1,
        ev.COMPENSATION_OPTIONS_OFFERED_V1,
        ev.VOUCHER_CHANGED_V1,
        ev.FOLLOWUP_SCHEDULED_V1,
        ev.FOLLOWUP_DUE_V1,
        ev.FOLLOWUP_OUTCOME_V1,
        ev.COMPLAINT_ERASURE_REQUESTED_V1,
    ),
    publishes=(
        ev.COMPLAINT_CREATED_V1,
        ev.COMPLAINT_STATUS_CHANGED_V1,
        ev.COMPLAINT_DEADLINES_CHANGED_V1,
        ev.COMPLAINT_LETTER_ISSUED_V1,
        ev.COMPLAINT_ERASURE_REQUESTED_V1,
    ),
    routers=guarded,
    subscriptions=subscriptions,
    background=housekeeping,
    issues_keys=True,
    openapi_tags=[
        {"name": "complaints", "description": "File, find, read and move complaints through their life."},
        {"name": "customers", "description": "A customer's complaints across every channel."},
        {"name": "insights", "description": "Counts, trends, times and missed deadlines."},
        {"name": "deadlines", "description": "Deadline profiles, calendars and each client's choice."},
        {"name": "reports", "description": "Regulatory reports: the complaints return."},
        {"name": "admin", "description": "API keys of the CRM clients."},
    ],
)


def create_app() -> FastAPI:
    """For `uvicorn complaints_intake.main:create_app --factory` and for tests."""
    return SERVICE.create_app()


def cli() -> None:
    """The shared commands (api, worker, serve, migrate, republish) plus `import-cfpb`."""
    if sys.argv[1:2] == ["import-cfpb"]:
        from complaints_intake.importer import main

        main(sys.argv[2:])
    else:
        run_cli(SERVICE)
