"""What follow-up does with the events it consumes: schedule, reschedule and cancel timers.

| consumed                          | effect                                                          |
|-----------------------------------|-----------------------------------------------------------------|
| complaint.created                 | remember the complaint; deadline watches for its due times      |
| complaint.status_changed resolved | satisfaction check; deadline watches end                        |
| complaint.status_changed closed   | every scheduled timer of the complaint is cancelled             |
| complaint.deadlines_changed       | deadline watches rescheduled or cancelled to match the new set  |
| compensation.granted              | satisfaction check; the remedy is remembered for the results    |

A satisfaction check newly scheduled is announced as `followup.scheduled` (with its due time).
| compensation.decision_recorded    | pending_approval/held defers surveys; rejected cancels the check |
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.consumer import Subscription
from complaints_common.events.contracts import (
    CompensationDecisionRecordedV1,
    CompensationGrantedV1,
    ComplaintCreatedV1,
    ComplaintDeadlinesChangedV1,
    ComplaintStatusChangedV1,
    FollowupScheduledV1,
)
from complaints_common.events.envelope import (
    COMPENSATION_DECISION_RECORDED_V1,
    COMPENSATION_GRANTED_V1,
    COMPLAINT_CREATED_V1,
    COMPLAINT_DEADLINES_CHANGED_V1,
    COMPLAINT_ERASURE_REQUESTED_V1,
    COMPLAINT_STATUS_CHANGED_V1,
    FOLLOWUP_SCHEDULED_V1,
    Event,
)
from complaints_common.messaging import Outbox
from complaints_common.runtime import Runtime
from complaints_followup.domain.schedule import (
    DEADLINE_KINDS,
    CancelReason,
    FollowupKind,
    deadline_timers,
    satisfaction_check_due,
)
from complaints_followup.events.firing import SOURCE
from complaints_followup.settings import FollowupSettings
from complaints_followup.store import complaints as known
from complaints_followup.store.timers import cancel, schedule, sync_deadline_timers

PENDING_DECISIONS = frozenset({"pending_approval", "held"})
CLOSED = "closed"
RESOLVED = "resolved"


class Scheduler:
    """Turns what happened to a complaint into the timers it needs."""

    def __init__(self, settings: FollowupSettings, outbox: Outbox) -> None:
        self.settings = settings
        self.outbox = outbox

    async def on_complaint_created(self, session: AsyncConnection, event: Event[Any]) -> None:
        data: ComplaintCreatedV1 = event.data
        await known.remember(
            session,
            data.complaint_id,
            client_id=data.client_id,
            customer_id=data.customer.customer_id,
            filed_at=data.filed_at,
            category=data.category,
            agent_id=data.agent_id,
        )
        await known.record_status(session, data.complaint_id, "received", data.filed_at)
        await known.record_deadlines(session, data.complaint_id, data.deadlines, data.filed_at)
        await self.sync_deadlines(session, await known.complaint(session, data.complaint_id))

    async def on_status_changed(self, session: AsyncConnection, event: Event[Any]) -> None:
        data: ComplaintStatusChangedV1 = event.data
        await known.remember(
            session, data.complaint_id, client_id=data.client_id, customer_id=data.customer_id
        )
        await known.record_status(session, data.complaint_id, data.to_status, data.changed_at)
        if data.deadlines:
            await known.record_deadlines(session, data.complaint_id, data.deadlines, data.changed_at)
        if data.to_status == CLOSED:
            await cancel(
                session,
                data.complaint_id,
                [kind.value for kind in FollowupKind],
                CancelReason.COMPLAINT_CLOSED,
            )
            return
        row = await known.complaint(session, data.complaint_id)
        if data.to_status == RESOLVED:
            await self.schedule_satisfaction_check(session, row, data.changed_at)
        await self.sync_deadlines(session, row)

    async def on_deadlines_changed(self, session: AsyncConnection, event: Event[Any]) -> None:
        data: ComplaintDeadlinesChangedV1 = event.data
        await known.remember(session, data.complaint_id, client_id=data.client_id)
        await known.record_deadlines(session, data.complaint_id, data.deadlines, data.changed_at)
        await self.sync_deadlines(session, await known.complaint(session, data.complaint_id))

    async def on_compensation_granted(self, session: AsyncConnection, event: Event[Any]) -> None:
        data: CompensationGrantedV1 = event.data
        await known.remember(
            session,
            data.complaint_id,
            client_id=data.client_id,
            customer_id=data.customer_id,
            remedy=data.offer.kind,
        )
        await known.record_decision(session, data.complaint_id, pending=False, at=data.granted_at)
        await self.schedule_satisfaction_check(
            session, await known.complaint(session, data.complaint_id), data.granted_at
        )

    async def on_decision_recorded(self, session: AsyncConnection, event: Event[Any]) -> None:
        data: CompensationDecisionRecordedV1 = event.data
        await known.remember(
            session, data.complaint_id, client_id=data.client_id, customer_id=data.customer_id
        )
        pending = data.status in PENDING_DECISIONS
        await known.record_decision(session, data.complaint_id, pending=pending, at=data.decided_at)
        if data.status == "rejected":
            await cancel(
                session,
                data.complaint_id,
                [FollowupKind.SATISFACTION_CHECK],
                CancelReason.COMPENSATION_REJECTED,
            )

    async def schedule_satisfaction_check(
        self, session: AsyncConnection, row: dict[str, Any] | None, settled_at: datetime
    ) -> None:
        """One satisfaction check per complaint, whichever settles it first (grant or resolution).
        `row` is what follow-up knows of the complaint, read after this event's facts were recorded."""
        if row is None or row["customer_id"] is None or row["client_id"] is None or row["status"] == CLOSED:
            return
        delay = timedelta(seconds=self.settings.satisfaction_delay_s)
        timer = await schedule(
            session,
            client_id=row["client_id"],
            complaint_id=row["complaint_id"],
            customer_id=row["customer_id"],
            kind=FollowupKind.SATISFACTION_CHECK,
            due_at=satisfaction_check_due(settled_at, delay),
            team=self.settings.default_team,
            agent_id=row["agent_id"],
        )
        if timer is not None:
            scheduled = FollowupScheduledV1(
                complaint_id=timer["complaint_id"],
                client_id=timer["client_id"],
                followup_id=timer["id"],
                customer_id=timer["customer_id"],
                kind=timer["kind"],
                due_at=timer["due_at"],
                scheduled_at=timer["created_at"],
            )
            await self.outbox.add(session, Event(FOLLOWUP_SCHEDULED_V1, scheduled, SOURCE))

    async def sync_deadlines(self, session: AsyncConnection, row: dict[str, Any] | None) -> None:
        """Deadline watches follow the newest set of due times while the complaint is open."""
        if row is None or row["customer_id"] is None or row["client_id"] is None:
            return  # no customer yet: complaint.created will bring it and sync then
        complaint_id = row["complaint_id"]
        if row["status"] in (RESOLVED, CLOSED):
            await cancel(session, complaint_id, DEADLINE_KINDS, CancelReason.COMPLAINT_RESOLVED)
            return
        started = row["filed_at"] or row["deadlines_as_of"]
        wanted = deadline_timers(
            known.stored_deadlines(row),
            started,
            timedelta(seconds=self.settings.deadline_warning_lead_s),
            self.settings.deadline_warning_fraction,
        )
        await sync_deadline_timers(session, row["client_id"], complaint_id, row["customer_id"], wanted)


def subscriptions(runtime: Runtime) -> list[Subscription[Any]]:
    scheduler = Scheduler(cast(FollowupSettings, runtime.settings), runtime.outbox)
    return [
        Subscription(COMPLAINT_CREATED_V1, scheduler.on_complaint_created),
        Subscription(COMPLAINT_STATUS_CHANGED_V1, scheduler.on_status_changed),
        Subscription(COMPLAINT_DEADLINES_CHANGED_V1, scheduler.on_deadlines_changed),
        Subscription(COMPENSATION_GRANTED_V1, scheduler.on_compensation_granted),
        Subscription(COMPENSATION_DECISION_RECORDED_V1, scheduler.on_decision_recorded),
        Subscription(COMPLAINT_ERASURE_REQUESTED_V1, on_erasure),
    ]


async def on_erasure(session: AsyncConnection, event: Event[Any]) -> None:
    await known.forget_free_text(session, event.data.complaint_id)
