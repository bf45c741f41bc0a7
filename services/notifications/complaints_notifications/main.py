"""Notifications: tells the customer every step, once, in their language."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from complaints_common.events import envelope as ev
from complaints_common.runtime import ServiceDefinition
from complaints_common.runtime import cli as run_cli
from complaints_notifications import delivery, progress
from complaints_notifications.api.routes import message_router
from complaints_notifications.api.webhooks import push_documentation, webhook_router
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
    dependencies=lambda runtime: runtime,
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
    routers=lambda runtime: [message_router(runtime), webhook_router(runtime)],
    webhooks=push_documentation,
    subscriptions=subscriptions,
    background=lambda runtime: [*delivery.background(runtime), *progress.background(runtime)],
    loop_connections=1,  # the delivery loop's LISTEN connection (delivery.DeliveryWorker._listen)
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
