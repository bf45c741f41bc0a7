"""Follow-up: owns time: satisfaction checks, deadline watches and call-backs, fired exactly once."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fastapi import FastAPI

from complaints_common.events import envelope as ev
from complaints_common.runtime import ServiceDefinition
from complaints_common.runtime import cli as run_cli
from complaints_followup.api import followups, outcomes, worklists
from complaints_followup.dependencies import FollowupDependencies
from complaints_followup.domain.schedule import Clock, system_clock
from complaints_followup.events.firing import timer_loop
from complaints_followup.events.handlers import subscriptions
from complaints_followup.settings import FollowupSettings
from complaints_followup.store.tables import metadata


def build_service(clock: Clock = system_clock) -> ServiceDefinition[FollowupDependencies]:
    """The service; tests pass their own clock so that days pass in seconds."""
    return ServiceDefinition(
        name="followup",
        title="Complaint follow-up",
        description=(
            "Owns time for the complaint platform: schedules the satisfaction call-back after a "
            "complaint is settled, watches every deadline a complaint carries (a warning before the "
            "breach, a breach event at it), keeps the follow-ups agents set, and publishes "
            "`followup.due` when each falls due, exactly once across replicas and restarts. Agents "
            "record call-back outcomes here; a dissatisfied customer's complaint is reopened by intake "
            "on `followup.outcome`. Every call but /healthz, /readyz and /metrics needs a bearer token "
            "(OpenID Connect) or an `X-API-Key`; the OpenAPI document is public. "
            "Errors are RFC 9457 problem details."
        ),
        settings_factory=FollowupSettings,
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        dependencies=partial(FollowupDependencies.build, clock=clock),
        consumes=(
            ev.COMPLAINT_CREATED_V1,
            ev.COMPLAINT_STATUS_CHANGED_V1,
            ev.COMPLAINT_DEADLINES_CHANGED_V1,
            ev.COMPENSATION_GRANTED_V1,
            ev.COMPENSATION_DECISION_RECORDED_V1,
            ev.COMPLAINT_ERASURE_REQUESTED_V1,
        ),
        publishes=(
            ev.FOLLOWUP_SCHEDULED_V1,
            ev.FOLLOWUP_DUE_V1,
            ev.FOLLOWUP_OUTCOME_V1,
        ),
        routers=lambda _: [followups.router, outcomes.router, worklists.router],
        subscriptions=subscriptions,
        background=lambda deps: [timer_loop(deps)],
        openapi_tags=[
            {
                "name": "follow-ups",
                "description": "Satisfaction checks, deadline watches, manual call-backs.",
            },
            {"name": "outcomes", "description": "Call-back outcomes and their CSAT and NPS."},
            {"name": "worklists", "description": "Due and overdue follow-ups per team and agent."},
        ],
    )


SERVICE = build_service()


def create_app() -> FastAPI:
    return SERVICE.create_app()


def cli() -> None:
    run_cli(SERVICE)
