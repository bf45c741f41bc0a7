"""What notifications does with the events it consumes, each handler typed by its contract's data:
record the message the event calls for and push what the CRM subscribed to, in the inbox
transaction (`application/complaints.py`), and leave the sending to the delivery loop.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.consumer import Subscription
from complaints_common.events.contracts import (
    CompensationDecisionRecordedV1,
    CompensationGrantedV1,
    ComplaintCreatedV1,
    ComplaintDeadlinesChangedV1,
    ComplaintErasureRequestedV1,
    ComplaintLetterIssuedV1,
    ComplaintStatusChangedV1,
    FollowupDueV1,
    FollowupOutcomeV1,
)
from complaints_common.events.envelope import (
    COMPENSATION_DECISION_RECORDED_V1,
    COMPENSATION_GRANTED_V1,
    COMPLAINT_CREATED_V1,
    COMPLAINT_DEADLINES_CHANGED_V1,
    COMPLAINT_ERASURE_REQUESTED_V1,
    COMPLAINT_LETTER_ISSUED_V1,
    COMPLAINT_STATUS_CHANGED_V1,
    FOLLOWUP_DUE_V1,
    FOLLOWUP_OUTCOME_V1,
    Event,
)
from complaints_notifications.application import complaints
from complaints_notifications.application.pushes import push_event, push_of
from complaints_notifications.dependencies import NotificationsDependencies
from complaints_notifications.domain.messages import MessageKind
from complaints_notifications.domain.push import (
    FollowupOutcomeData,
    PushType,
    decision_push,
    decision_push_key,
    granted_push,
)
from complaints_notifications.store.messages import forget_customer


class Handlers:
    """The consumers' handlers, sharing the process's composer."""

    def __init__(self, deps: NotificationsDependencies) -> None:
        self.composer = deps.composer

    async def on_complaint_created(self, session: AsyncConnection, event: Event[ComplaintCreatedV1]) -> None:
        await complaints.acknowledge(session, self.composer, event)

    async def on_compensation_granted(
        self, session: AsyncConnection, event: Event[CompensationGrantedV1]
    ) -> None:
        """The customer's compensation message, and the CRM's `compensation.granted` push (a grant
        has no decision record to push it), in one statement."""
        push_type, decision = granted_push(event.data)
        push = push_of(decision_push_key(event.id, decision), push_type, decision)
        await complaints.record_messages(session, self.composer, event, MessageKind.COMPENSATION, push=push)

    async def on_followup_due(self, session: AsyncConnection, event: Event[FollowupDueV1]) -> None:
        await complaints.follow_up(session, self.composer, event)

    async def on_status_changed(
        self, session: AsyncConnection, event: Event[ComplaintStatusChangedV1]
    ) -> None:
        await complaints.tell_status_change(session, self.composer, event)

    async def on_deadlines_changed(
        self, session: AsyncConnection, event: Event[ComplaintDeadlinesChangedV1]
    ) -> None:
        await complaints.keep_deadlines(session, event)

    async def on_decision_recorded(
        self, session: AsyncConnection, event: Event[CompensationDecisionRecordedV1]
    ) -> None:
        """The decision's push: approval waiting or declined (granted, for a record from before
        grants were announced by `compensation.granted` alone: pushed once with it)."""
        decision = decision_push(event.data.model_dump(mode="json"))
        if decision is not None:
            await push_event(session, event, *decision, key=decision_push_key(event.id, decision[1]))

    async def on_followup_outcome(self, session: AsyncConnection, event: Event[FollowupOutcomeV1]) -> None:
        data = FollowupOutcomeData.model_validate(event.data.model_dump(mode="json"))
        await push_event(session, event, PushType.FOLLOWUP_OUTCOME, data)

    async def on_erasure(self, session: AsyncConnection, event: Event[ComplaintErasureRequestedV1]) -> None:
        await forget_customer(session, event.data.complaint_id)

    async def on_letter_issued(self, session: AsyncConnection, event: Event[ComplaintLetterIssuedV1]) -> None:
        await complaints.record_messages(session, self.composer, event, MessageKind(event.data.kind))


def subscriptions(deps: NotificationsDependencies) -> list[Subscription[Any]]:
    handlers = Handlers(deps)
    return [
        Subscription(COMPLAINT_CREATED_V1, handlers.on_complaint_created),
        Subscription(COMPLAINT_LETTER_ISSUED_V1, handlers.on_letter_issued),
        Subscription(COMPLAINT_ERASURE_REQUESTED_V1, handlers.on_erasure),
        Subscription(COMPENSATION_GRANTED_V1, handlers.on_compensation_granted),
        Subscription(FOLLOWUP_DUE_V1, handlers.on_followup_due),
        Subscription(COMPLAINT_STATUS_CHANGED_V1, handlers.on_status_changed),
        Subscription(COMPLAINT_DEADLINES_CHANGED_V1, handlers.on_deadlines_changed),
        Subscription(COMPENSATION_DECISION_RECORDED_V1, handlers.on_decision_recorded),
        Subscription(FOLLOWUP_OUTCOME_V1, handlers.on_followup_outcome),
    ]
