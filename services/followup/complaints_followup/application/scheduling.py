"""Scheduling from what happens to a complaint: its satisfaction check and its deadline watches.

The facts come from other services' events (complaints_followup.events.handlers records them in
store.complaints first); the Scheduler decides which timers the complaint needs now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.messaging import Outbox
from complaints_followup.domain.schedule import (
    DEADLINE_KINDS,
    CancelReason,
    FollowupKind,
    deadline_timers,
    satisfaction_check_due,
)
from complaints_followup.events.published import followup_scheduled
from complaints_followup.settings import FollowupSettings
from complaints_followup.store.complaints import KnownComplaint
from complaints_followup.store.timers import cancel, schedule, sync_deadline_timers

# Complaint statuses (intake's) that end timers.
CLOSED = "closed"
RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Scheduler:
    """Turns what happened to a complaint into the timers it needs."""

    settings: FollowupSettings
    outbox: Outbox

    async def schedule_satisfaction_check(
        self, session: AsyncConnection, complaint: KnownComplaint | None, settled_at: datetime
    ) -> None:
        """One satisfaction check per complaint, whichever settles it first (grant or resolution),
        announced as `followup.scheduled`. `complaint` is what follow-up knows of it, read after
        the settling event's facts were recorded."""
        if (
            complaint is None
            or complaint.customer_id is None
            or complaint.client_id is None
            or complaint.status == CLOSED
        ):
            return
        delay = timedelta(seconds=self.settings.satisfaction_delay_s)
        timer = await schedule(
            session,
            client_id=complaint.client_id,
            complaint_id=complaint.complaint_id,
            customer_id=complaint.customer_id,
            kind=FollowupKind.SATISFACTION_CHECK,
            due_at=satisfaction_check_due(settled_at, delay),
            team=self.settings.default_team,
            agent_id=complaint.agent_id,
        )
        if timer is not None:
            await self.outbox.add(session, followup_scheduled(timer))

    async def watch_deadlines(self, session: AsyncConnection, complaint: KnownComplaint | None) -> None:
        """Deadline watches follow the newest set of due times while the complaint is open."""
        if complaint is None or complaint.customer_id is None or complaint.client_id is None:
            return  # no customer yet: complaint.created will bring it and watch then
        if complaint.status in (RESOLVED, CLOSED):
            await cancel(session, complaint.complaint_id, DEADLINE_KINDS, CancelReason.COMPLAINT_RESOLVED)
            return
        # Deadlines are stored with the time they were computed: no start, no deadlines yet.
        started = complaint.filed_at or complaint.deadlines_as_of
        lead = timedelta(seconds=self.settings.deadline_warning_lead_s)
        fraction = self.settings.deadline_warning_fraction
        wanted = deadline_timers(complaint.deadlines, started, lead, fraction) if started else []
        await sync_deadline_timers(
            session, complaint.client_id, complaint.complaint_id, complaint.customer_id, wanted
        )

    async def end_timers(self, session: AsyncConnection, complaint_id: UUID) -> None:
        """A closed complaint: none of its scheduled timers fires."""
        await cancel(session, complaint_id, list(FollowupKind), CancelReason.COMPLAINT_CLOSED)

    async def drop_satisfaction_check(self, session: AsyncConnection, complaint_id: UUID) -> None:
        """Compensation rejected: no survey about it."""
        await cancel(
            session, complaint_id, [FollowupKind.SATISFACTION_CHECK], CancelReason.COMPENSATION_REJECTED
        )
