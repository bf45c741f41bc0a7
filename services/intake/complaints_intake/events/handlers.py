"""What intake consumes: the other services' answers, shown on the complaint as its journey
(application/journey.py), and the erasure requests every service applies to its own data."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.consumer import Handler, Subscription
from complaints_common.events.contracts import (
    CompensationDecisionRecordedV1,
    CompensationGrantedV1,
    CompensationOptionsOfferedV1,
    ComplaintErasureRequestedV1,
    FollowupOutcomeV1,
    NotificationStatusV1,
    VoucherChangedV1,
)
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
from complaints_intake.application import journey
from complaints_intake.application.journey import DataT, JourneyStep
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.domain import journey as j
from complaints_intake.store.erasure import pseudonymise


def journey_only(step: JourneyStep[DataT]) -> Handler[DataT]:
    """A handler that only shows the event's step on the complaint's journey."""

    async def handler(session: AsyncConnection, event: Event[DataT]) -> None:
        await journey.update_journey(session, event.data, step)

    return handler


def subscriptions(deps: IntakeDependencies) -> list[Subscription[Any]]:
    outbox = deps.runtime.outbox

    async def on_notification(session: AsyncConnection, event: Event[NotificationStatusV1]) -> None:
        await journey.acknowledgement_status(session, outbox, event.data)

    async def on_granted(session: AsyncConnection, event: Event[CompensationGrantedV1]) -> None:
        await journey.compensation_granted(session, event.data)

    async def on_followup_outcome(session: AsyncConnection, event: Event[FollowupOutcomeV1]) -> None:
        await journey.followup_outcome(session, outbox, event.data)

    async def on_voucher_changed(session: AsyncConnection, event: Event[VoucherChangedV1]) -> None:
        await journey.voucher_changed(session, event.data)

    async def on_erasure(session: AsyncConnection, event: Event[ComplaintErasureRequestedV1]) -> None:
        await pseudonymise(session, event.data.complaint_id)

    decision: Handler[CompensationDecisionRecordedV1] = journey_only(j.on_decision)
    options: Handler[CompensationOptionsOfferedV1] = journey_only(j.on_options)
    return [
        Subscription(NOTIFICATION_STATUS_V1, on_notification),
        Subscription(COMPLAINT_ERASURE_REQUESTED_V1, on_erasure),
        Subscription(COMPENSATION_GRANTED_V1, on_granted),
        Subscription(COMPENSATION_DECISION_RECORDED_V1, decision),
        Subscription(COMPENSATION_OPTIONS_OFFERED_V1, options),
        Subscription(VOUCHER_CHANGED_V1, on_voucher_changed),
        Subscription(FOLLOWUP_SCHEDULED_V1, journey_only(j.on_followup_due)),
        Subscription(FOLLOWUP_DUE_V1, journey_only(j.on_followup_due)),
        Subscription(FOLLOWUP_OUTCOME_V1, on_followup_outcome),
    ]
