"""The complaint's journey as the other services report it, and what their answers move on: the
acknowledgement leaving notifications acknowledges a received complaint, a dissatisfied follow-up
reopens and escalates it (audited, actor 'followup'), a clawback enters the history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import (
    CompensationGrantedV1,
    EventData,
    FollowupOutcomeV1,
    NotificationStatusV1,
    VoucherChangedV1,
)
from complaints_common.messaging import Outbox
from complaints_intake.domain import journey as j
from complaints_intake.domain.complaint import Status
from complaints_intake.domain.lifecycle import Action, Change, apply, reopen_and_escalate
from complaints_intake.events.publishing import record_change
from complaints_intake.store.complaints import JourneyRecord, add_history, journey_of, set_journey
from complaints_intake.store.regulated import record_grant

FOLLOWUP_ACTOR = "followup"
NOTIFICATIONS_ACTOR = "notifications"
CLAWBACK_ACTION = "compensation_clawed_back"
# POST -> acknowledgement sent: the latency SLO (deploy/k8s/components/monitoring) is read from it.
ACKNOWLEDGEMENT_SECONDS = Histogram(
    "intake_acknowledgement_seconds",
    "From a complaint's filing to its acknowledgement leaving the notifications service.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
DataT = TypeVar("DataT", bound=EventData)
JourneyStep = Callable[[j.Journey, DataT], j.Journey]


async def step_journey(
    session: AsyncConnection, data: DataT, step: JourneyStep[DataT]
) -> tuple[JourneyRecord, j.Journey] | None:
    """The complaint as it was (locked) and its journey with the step, not yet saved; None when
    the complaint is unknown here. A step that changes nothing hands back the journey it was given."""
    row = await journey_of(session, data.complaint_id)
    if row is None:
        # Another client's platform or a complaint filed before a data loss: nothing to show it on.
        return None
    return row, step(row.journey, data)


async def update_journey(
    session: AsyncConnection, data: DataT, step: JourneyStep[DataT]
) -> JourneyRecord | None:
    """The step shown on the complaint's journey; the complaint as it was, None when unknown here."""
    stepped = await step_journey(session, data, step)
    if stepped is None:
        return None
    row, journey = stepped
    await _save_step(session, row, journey)
    return row


async def _save_step(session: AsyncConnection, row: JourneyRecord, journey: j.Journey) -> None:
    """Save the journey's step, unless it changed nothing."""
    if journey is not row.journey:
        await set_journey(session, row.id, journey)


async def acknowledgement_status(
    session: AsyncConnection, outbox: Outbox, data: NotificationStatusV1
) -> None:
    """On the journey; the first acknowledgement sent moves a received complaint on."""
    if data.kind != j.ACKNOWLEDGEMENT_KIND:
        return  # the journey shows only the acknowledgement (j.on_notification): nothing to read
    stepped = await step_journey(session, data, j.on_notification)
    if stepped is None:
        return
    row, journey = stepped
    changes = []
    if data.status == "sent" and row.status == Status.RECEIVED:
        # Once per complaint (the first acknowledgement moves it on): the latency SLO's measure.
        ACKNOWLEDGEMENT_SECONDS.observe(max(0.0, (data.at - row.filed_at).total_seconds()))
        changes.append(apply(row.lifecycle, Action.ACKNOWLEDGE))
    await _record(
        session, outbox, row, journey, changes, data.at, NOTIFICATIONS_ACTOR, "acknowledgement_sent"
    )


async def compensation_granted(session: AsyncConnection, data: CompensationGrantedV1) -> None:
    # Kept per decision besides the journey's latest step: the complaints return's goodwill.
    stepped = await step_journey(session, data, j.on_granted)
    if stepped is not None:
        await record_grant(session, data, stepped[1])


async def followup_outcome(session: AsyncConnection, outbox: Outbox, data: FollowupOutcomeV1) -> None:
    """On the journey; a dissatisfied customer's complaint is reopened and escalated."""
    stepped = await step_journey(session, data, j.on_followup_outcome)
    if stepped is None:
        return
    row, journey = stepped
    changes = reopen_and_escalate(row.lifecycle) if data.outcome == "dissatisfied" else []
    await _record(
        session, outbox, row, journey, changes, data.recorded_at, FOLLOWUP_ACTOR, "followup_dissatisfied"
    )


async def voucher_changed(session: AsyncConnection, data: VoucherChangedV1) -> None:
    """On the journey; a clawback also in the history, with who made it and why (the reason is
    their free text: a note, erased with the customer's data)."""
    row = await update_journey(session, data, j.on_voucher_changed)
    if row is None or data.change != "clawed_back":
        return
    await add_history(
        session,
        row.id,
        at=data.changed_at,
        actor=data.changed_by,
        action=CLAWBACK_ACTION,
        escalation_level=row.escalation_level,
        note=data.reason,
    )


async def _record(
    session: AsyncConnection,
    outbox: Outbox,
    row: JourneyRecord,
    journey: j.Journey,
    changes: list[Change],
    at: datetime,
    actor: str,
    reason: str,
) -> None:
    """The journey's step and the lifecycle changes it moves on; the step is saved in the first
    change's statement."""
    if not changes:
        await _save_step(session, row, journey)
        return
    stepped: j.Journey | None = journey if journey is not row.journey else None
    for change in changes:
        await record_change(session, outbox, row, change, at=at, actor=actor, reason=reason, journey=stepped)
        stepped = None
