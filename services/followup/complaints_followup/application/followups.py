"""A complaint's follow-ups, and the manual call-backs agents set and cancel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from complaints_common.problems import Conflict, NotFound, or_not_found
from complaints_followup.application.scheduling import CLOSED
from complaints_followup.dependencies import FollowupDependencies
from complaints_followup.domain.schedule import CancelReason, FollowupKind, FollowupStatus
from complaints_followup.store import complaints as known
from complaints_followup.store import timers
from complaints_followup.store.timers import Followup

# Alike for "absent" and "another client's"; the id is not echoed back.
NO_COMPLAINT = "No such complaint is known to follow-up (yet)."
NO_FOLLOWUP = "No such follow-up."


@dataclass(frozen=True, slots=True)
class ManualFollowup:
    """An agent's call-back request. The same `idempotency_key` sets one follow-up, however often
    it is sent."""

    due_at: datetime
    team: str | None
    agent_id: str | None
    note: str | None
    idempotency_key: str | None


async def followups_of_complaint(
    deps: FollowupDependencies, client_id: str, complaint_id: UUID
) -> list[Followup]:
    async with deps.runtime.db.transaction() as session:
        if await known.complaint(session, complaint_id, client_id) is None:
            raise NotFound(NO_COMPLAINT)
        return await timers.followups_for(session, client_id, complaint_id)


async def followup(deps: FollowupDependencies, client_id: str, followup_id: UUID) -> Followup:
    async with deps.runtime.db.transaction() as session:
        found = or_not_found(await timers.followup_by_id(session, client_id, followup_id), NO_FOLLOWUP)
    return found


async def set_manual_followup(
    deps: FollowupDependencies, client_id: str, complaint_id: UUID, request: ManualFollowup
) -> Followup:
    """A manual follow-up on an open complaint with a customer, due at the agent's time."""
    key = request.idempotency_key
    reason_key = f"{client_id}:{key}" if key else str(uuid4())
    async with deps.runtime.db.transaction() as session:
        complaint = await known.complaint(session, complaint_id, client_id)
        if complaint is None or complaint.customer_id is None:
            raise NotFound(NO_COMPLAINT)
        if complaint.status == CLOSED:
            raise Conflict("The complaint is closed; reopen it before setting a follow-up.")
        timer = await timers.schedule(
            session,
            client_id=client_id,
            complaint_id=complaint_id,
            customer_id=complaint.customer_id,
            kind=FollowupKind.MANUAL,
            due_at=request.due_at,
            reason_key=reason_key,
            team=request.team or deps.settings.default_team,
            agent_id=request.agent_id,
            note=request.note,
        )
        if timer is None:  # a retried request: the follow-up its first attempt set
            timer = await timers.first_attempt(
                session, client_id, complaint_id, FollowupKind.MANUAL, reason_key
            )
    return timer


async def cancel_followup(deps: FollowupDependencies, client_id: str, followup_id: UUID) -> Followup:
    """Only a follow-up that has not fired can be cancelled; it then never fires."""
    async with deps.runtime.db.transaction() as session:
        timer = or_not_found(
            await timers.followup_by_id(session, client_id, followup_id, lock=True), NO_FOLLOWUP
        )
        if timer.status != FollowupStatus.SCHEDULED:
            raise Conflict(f"The follow-up is {timer.status}; only a scheduled one can be cancelled.")
        return await timers.cancel_one(session, followup_id, CancelReason.CANCELLED_BY_AGENT)
