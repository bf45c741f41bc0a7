"""What intake consumes: the other services' answers, shown on the complaint as its journey.

A dissatisfied follow-up reopens and escalates the complaint (audited, actor 'followup'); the
acknowledgement leaving the notifications service moves a received complaint to acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.consumer import Subscription
from complaints_common.events.envelope import (
    COMPENSATION_DECISION_RECORDED_V1,
    COMPENSATION_GRANTED_V1,
    COMPENSATION_OPTIONS_OFFERED_V1,
    COMPLAINT_ERASURE_REQUESTED_V1,
    FOLLOWUP_DUE_V1,
    FOLLOWUP_OUTCOME_V1,
    FOLLOWUP_SCHEDULED_V1,
    NOTIFICATION_STATUS_V1,
    VOUCHER_CHANGED_V1,
    Event,
)
from complaints_common.runtime import Runtime
from complaints_intake.domain import journey as j
from complaints_intake.domain.complaint import Status
from complaints_intake.domain.lifecycle import Action, Change, apply, reopen_and_escalate
from complaints_intake.events.publishing import record_change
from complaints_intake.store.complaints import add_history, get_complaint, lifecycle_of, set_journey
from complaints_intake.store.erasure import pseudonymise
from complaints_intake.store.regulated import record_grant

FOLLOWUP_ACTOR = "followup"
NOTIFICATIONS_ACTOR = "notifications"
CLAWBACK_ACTION = "compensation_clawed_back"
JourneyStep = Callable[[j.Journey, Any], j.Journey]
# POST -> acknowledgement sent: the latency SLO (deploy/k8s/components/monitoring) is read from it.
ACKNOWLEDGEMENT_SECONDS = Histogram(
    "intake_acknowledgement_seconds",
    "From a complaint's filing to its acknowledgement leaving the notifications service.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)


def subscriptions(runtime: Runtime) -> list[Subscription[Any]]:
    async def update_journey(
        session: AsyncConnection, event: Event[Any], step: JourneyStep
    ) -> dict[str, Any] | None:
        row = await get_complaint(session, event.data.complaint_id, for_update=True)
        if row is None:
            # Another client's platform or a complaint filed before a data loss: nothing to show it on.
            return None
        journey = step(j.Journey.model_validate(row["journey"]), event.data)
        await set_journey(session, row["id"], journey.model_dump(mode="json"))
        return row

    def journey_only(step: JourneyStep) -> Callable[[AsyncConnection, Event[Any]], Any]:
        async def handler(session: AsyncConnection, event: Event[Any]) -> None:
            await update_journey(session, event, step)

        return handler

    async def on_notification(session: AsyncConnection, event: Event[Any]) -> None:
        row = await update_journey(session, event, j.on_notification)
        data = event.data
        if row is None or data.kind != j.ACKNOWLEDGEMENT_KIND or data.status != "sent":
            return
        if row["status"] == Status.RECEIVED:
            # Once per complaint (the first acknowledgement moves it on): the latency SLO's measure.
            ACKNOWLEDGEMENT_SECONDS.observe(max(0.0, (data.at - row["filed_at"]).total_seconds()))
            change = apply(lifecycle_of(row), Action.ACKNOWLEDGE)
            await _record(
                session, runtime, row, [change], data.at, NOTIFICATIONS_ACTOR, "acknowledgement_sent"
            )

    async def on_granted(session: AsyncConnection, event: Event[Any]) -> None:
        # Kept per decision besides the journey's latest step: the complaints return's goodwill.
        if await update_journey(session, event, j.on_granted) is not None:
            await record_grant(session, event.data)

    async def on_followup_outcome(session: AsyncConnection, event: Event[Any]) -> None:
        row = await update_journey(session, event, j.on_followup_outcome)
        if row is None or event.data.outcome != "dissatisfied":
            return
        changes = reopen_and_escalate(lifecycle_of(row))
        await _record(
            session, runtime, row, changes, event.data.recorded_at, FOLLOWUP_ACTOR, "followup_dissatisfied"
        )

    async def on_voucher_changed(session: AsyncConnection, event: Event[Any]) -> None:
        """On the journey; a clawback also in the history, with who made it and why (the reason
        is their free text: a note, erased with the customer's data)."""
        data = event.data
        row = await update_journey(session, event, j.on_voucher_changed)
        if row is None or data.change != "clawed_back":
            return
        await add_history(
            session,
            row["id"],
            at=data.changed_at,
            actor=data.changed_by,
            action=CLAWBACK_ACTION,
            escalation_level=row["escalation_level"],
            note=data.reason,
        )

    async def on_erasure(session: AsyncConnection, event: Event[Any]) -> None:
        await pseudonymise(session, event.data.complaint_id)

    return [
        Subscription(NOTIFICATION_STATUS_V1, on_notification),
        Subscription(COMPLAINT_ERASURE_REQUESTED_V1, on_erasure),
        Subscription(COMPENSATION_GRANTED_V1, on_granted),
        Subscription(COMPENSATION_DECISION_RECORDED_V1, journey_only(j.on_decision)),
        Subscription(COMPENSATION_OPTIONS_OFFERED_V1, journey_only(j.on_options)),
        Subscription(VOUCHER_CHANGED_V1, on_voucher_changed),
        Subscription(FOLLOWUP_SCHEDULED_V1, journey_only(j.on_followup_due)),
        Subscription(FOLLOWUP_DUE_V1, journey_only(j.on_followup_due)),
        Subscription(FOLLOWUP_OUTCOME_V1, on_followup_outcome),
    ]


async def _record(
    session: AsyncConnection,
    runtime: Runtime,
    row: dict[str, Any],
    changes: list[Change],
    at: datetime,
    actor: str,
    reason: str,
) -> None:
    for change in changes:
        await record_change(session, runtime.outbox, row, change, at=at, actor=actor, reason=reason)
