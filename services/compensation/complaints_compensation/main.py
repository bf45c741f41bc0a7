"""Compensation: decides and grants compensation under a versioned policy, within authority limits."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from complaints_common.events import envelope as ev
from complaints_common.runtime import ServiceDefinition
from complaints_common.runtime import cli as run_cli
from complaints_compensation.api import approvals, decisions, options, policy, reports, vouchers
from complaints_compensation.application.expiry import background
from complaints_compensation.dependencies import CompensationDependencies, start
from complaints_compensation.events.handlers import subscriptions
from complaints_compensation.settings import CompensationSettings
from complaints_compensation.store.tables import metadata

SERVICE = ServiceDefinition(
    name="compensation",
    title="Complaint compensation",
    description=(
        "Decides the compensation a complaint earns under a versioned policy (rules as data), grants it "
        "at once within the front line's authority and publishes `compensation.granted`; above it the "
        "decision waits for a supervisor or manager (four eyes). Abuse rules refuse or hold grants and "
        "name themselves; vouchers are single use with an expiry. Every call but /healthz, /readyz and "
        "/metrics needs a bearer token (OpenID Connect) "
        "or an `X-API-Key`; the OpenAPI document is public. Errors are RFC 9457 problem details."
    ),
    settings_factory=CompensationSettings,
    metadata=metadata,
    migrations=Path(__file__).parent / "migrations",
    dependencies=CompensationDependencies.build,
    start=start,
    consumes=(ev.COMPLAINT_CREATED_V1, ev.COMPLAINT_ERASURE_REQUESTED_V1),
    publishes=(
        ev.COMPENSATION_GRANTED_V1,
        ev.COMPENSATION_DECISION_RECORDED_V1,
        ev.COMPENSATION_OPTIONS_OFFERED_V1,
        ev.VOUCHER_CHANGED_V1,
    ),
    routers=lambda _: [
        decisions.router,
        options.router,
        approvals.router,
        vouchers.router,
        policy.router,
        reports.router,
    ],
    subscriptions=subscriptions,
    background=background,
    openapi_tags=[
        {"name": "decisions", "description": "Compensation decisions, proposals and the audit trail."},
        {"name": "options", "description": "The front line's options for the customer, and their choice."},
        {"name": "approvals", "description": "Sign-off of decisions above frontline authority."},
        {"name": "vouchers", "description": "Redemption and clawback of granted vouchers."},
        {"name": "policy", "description": "The compensation policy: versioned rules as data."},
        {"name": "reports", "description": "Spend and the share settled within frontline authority."},
    ],
)


def create_app() -> FastAPI:
    return SERVICE.create_app()


def cli() -> None:
    run_cli(SERVICE)
