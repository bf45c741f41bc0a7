"""Notifications: tells the customer every step, once, in their language."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from complaints_common.events import envelope as ev
from complaints_common.runtime import ServiceDefinition
from complaints_common.runtime import cli as run_cli
from complaints_notifications.api import messages, webhooks
from complaints_notifications.application.delivery import delivery_loops
from complaints_notifications.application.progress import progress_loops
from complaints_notifications.dependencies import NotificationsDependencies
from complaints_notifications.events.handlers import subscriptions
from complaints_notifications.settings import NotificationSettings
from complaints_notifications.store.tables import metadata

SERVICE = ServiceDefinition(
    name="notifications",
    title="Complaint notifications",
    description=(
        "Tells the customer every step of service recovery (acknowledgement, compensation, "
        "satisfaction survey, status updates) exactly once, in their language, by e-mail or SMS, "
        "pushes what the CRM subscribed to (approvals waiting, decisions, status changes, deadlines, "
        "follow-up outcomes, delivery failures, call-back tasks) as signed webhooks (see `webhooks`), "
        "and keeps a log of every delivery attempt. Every call but /healthz, "
        "/readyz and /metrics needs a bearer token (OpenID Connect) "
        "or an `X-API-Key`; the OpenAPI document is public. Errors are RFC 9457 problem details."
    ),
    settings_factory=NotificationSettings,
    metadata=metadata,
    migrations=Path(__file__).parent / "migrations",
    dependencies=NotificationsDependencies.build,
    consumes=(
        ev.COMPLAINT_CREATED_V1,
        ev.COMPLAINT_STATUS_CHANGED_V1,
        ev.COMPLAINT_DEADLINES_CHANGED_V1,
        ev.COMPENSATION_GRANTED_V1,
        ev.FOLLOWUP_DUE_V1,
        ev.COMPLAINT_LETTER_ISSUED_V1,
        ev.COMPLAINT_ERASURE_REQUESTED_V1,
        ev.COMPENSATION_DECISION_RECORDED_V1,
        ev.FOLLOWUP_OUTCOME_V1,
    ),
    publishes=(ev.NOTIFICATION_STATUS_V1,),
    routers=lambda _: [messages.router, webhooks.router],
    webhooks=webhooks.push_documentation,
    subscriptions=subscriptions,
    background=lambda deps: [*delivery_loops(deps), *progress_loops(deps)],
    # The delivery loop's LISTEN connection (application.delivery.DeliveryWorker._listen).
    loop_connections=1,
    openapi_tags=[
        {"name": "messages", "description": "What the customer was told, and every attempt to deliver it."},
        {
            "name": "webhooks",
            "description": (
                "Where the platform pushes what, per client: subscriptions, their secrets (rotated with "
                "an overlap), test deliveries. Needs the admin scope."
            ),
        },
    ],
)


def create_app() -> FastAPI:
    return SERVICE.create_app()


def cli() -> None:
    run_cli(SERVICE)
