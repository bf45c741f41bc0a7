"""What follow-up does with the events it consumes: record the facts, then schedule, reschedule and
cancel timers (complaints_followup.application.scheduling).

| consumed                          | effect                                                          |
|-----------------------------------|-----------------------------------------------------------------|
| complaint.created                 | remember the complaint; deadline watches for its due times      |
| complaint.status_changed resolved | satisfaction check; deadline watches end                        |
| complaint.status_changed closed   | every scheduled timer of the complaint is cancelled             |
| complaint.deadlines_changed       | deadline watches rescheduled or cancelled to match the new set  |
| compensation.granted              | satisfaction check; the remedy remembered; the decision settled |
| compensation.decision_recorded    | pending_approval/held defers surveys; rejected cancels the check |
| complaint.erasure_requested       | the agent's notes and the customer's comments are erased        |

A grant is announced by `compensation.granted` alone; a decision record with status `granted` (from
before that) settles the decision as the grant does. A satisfaction check newly scheduled is
announced as `followup.scheduled` (with its due time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.consumer import Subscription
from complaints_common.events.contracts import (
    CompensationDecisionRecordedV1,
    CompensationGrantedV1,
    ComplaintCreatedV1,
    ComplaintDeadlinesChangedV1,
    ComplaintErasureRequestedV1,
    ComplaintStatusChangedV1,
)
from complaints_common.events.envelope import (
    COMPENSATION_DECISION_RECORDED_V1,
    COMPENSATION_GRANTED_V1,
    COMPLAINT_CREATED_V1,
    COMPLAINT_DEADLINES_CHANGED_V1,
    COMPLAINT_ERASURE_REQUESTED_V1,
    COMPLAINT_STATUS_CHANGED_V1,
    Event,
)
from complaints_followup.application.scheduling import CLOSED, RESOLVED, Scheduler
from complaints_followup.dependencies import FollowupDependencies
from complaints_followup.store import complaints as known
from complaints_followup.store.complaints import Facts

PENDING_DECISIONS = frozenset({"pending_approval", "held"})


def subscriptions(deps: FollowupDependencies) -> list[Subscription[Any]]:
    handlers = Handlers(deps.scheduler)
    return [
        Subscription(COMPLAINT_CREATED_V1, handlers.on_complaint_created),
        Subscription(COMPLAINT_STATUS_CHANGED_V1, handlers.on_status_changed),
        Subscription(COMPLAINT_DEADLINES_CHANGED_V1, handlers.on_deadlines_changed),
        Subscription(COMPENSATION_GRANTED_V1, handlers.on_compensation_granted),
        Subscription(COMPENSATION_DECISION_RECORDED_V1, handlers.on_decision_recorded),
        Subscription(COMPLAINT_ERASURE_REQUESTED_V1, on_erasure),
    ]


@dataclass(frozen=True, slots=True)
class Handlers:
    scheduler: Scheduler

    async def on_complaint_created(self, session: AsyncConnection, event: Event[ComplaintCreatedV1]) -> None:
        data = event.data
        facts = Facts(
            client_id=data.client_id,
            customer_id=data.customer.customer_id,
            filed_at=data.filed_at,
            category=data.category,
            agent_id=data.agent_id,
            status="received",
            status_as_of=data.filed_at,
            deadlines=data.deadlines,
            deadlines_as_of=data.filed_at,
        )
        await self.scheduler.watch_deadlines(session, await known.fold(session, data.complaint_id, facts))

    async def on_status_changed(
        self, session: AsyncConnection, event: Event[ComplaintStatusChangedV1]
    ) -> None:
        data = event.data
        facts = Facts(
            client_id=data.client_id,
            customer_id=data.customer_id,
            status=data.to_status,
            status_as_of=data.changed_at,
            deadlines=data.deadlines,  # an empty list here says nothing of them
            deadlines_as_of=data.changed_at if data.deadlines else None,
        )
        complaint = await known.fold(session, data.complaint_id, facts)
        if data.to_status == CLOSED:
            await self.scheduler.end_timers(session, data.complaint_id)
            return
        if data.to_status == RESOLVED:
            await self.scheduler.schedule_satisfaction_check(session, complaint, data.changed_at)
        await self.scheduler.watch_deadlines(session, complaint)

    async def on_deadlines_changed(
        self, session: AsyncConnection, event: Event[ComplaintDeadlinesChangedV1]
    ) -> None:
        data = event.data
        facts = Facts(client_id=data.client_id, deadlines=data.deadlines, deadlines_as_of=data.changed_at)
        await self.scheduler.watch_deadlines(session, await known.fold(session, data.complaint_id, facts))

    async def on_compensation_granted(
        self, session: AsyncConnection, event: Event[CompensationGrantedV1]
    ) -> None:
        data = event.data
        facts = Facts(
            client_id=data.client_id,
            customer_id=data.customer_id,
            remedy=data.offer.kind,
            decision_settled_at=data.granted_at,
        )
        complaint = await known.fold(session, data.complaint_id, facts)
        await self.scheduler.schedule_satisfaction_check(session, complaint, data.granted_at)

    async def on_decision_recorded(
        self, session: AsyncConnection, event: Event[CompensationDecisionRecordedV1]
    ) -> None:
        data = event.data
        pending = data.status in PENDING_DECISIONS
        facts = Facts(
            client_id=data.client_id,
            customer_id=data.customer_id,
            decision_pending_since=data.decided_at if pending else None,
            decision_settled_at=None if pending else data.decided_at,
        )
        await known.fold(session, data.complaint_id, facts)
        if data.status == "rejected":
            await self.scheduler.drop_satisfaction_check(session, data.complaint_id)


async def on_erasure(session: AsyncConnection, event: Event[ComplaintErasureRequestedV1]) -> None:
    await known.forget_free_text(session, event.data.complaint_id)
