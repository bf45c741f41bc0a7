"""Recording a call-back's outcome (and the follow-up it leads to), and the results of call-backs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.problems import Conflict, or_not_found
from complaints_followup.application.followups import NO_FOLLOWUP
from complaints_followup.dependencies import FollowupDependencies
from complaints_followup.domain.outcome import CallBack, NextStep, Outcome, judge
from complaints_followup.domain.schedule import ACTIONABLE_KINDS, FollowupKind, FollowupStatus
from complaints_followup.events.published import followup_outcome
from complaints_followup.settings import FollowupSettings
from complaints_followup.store import complaints as known
from complaints_followup.store import timers
from complaints_followup.store.outcomes import (
    OutcomeFields,
    OutcomeQuery,
    OutcomeTally,
    mark_done,
    outcome_summary,
)
from complaints_followup.store.timers import Followup


@dataclass(frozen=True, slots=True)
class RecordedOutcome:
    followup: Followup  # done, with its outcome
    outcome: Outcome
    next_followup: Followup | None  # the next attempt or a review request


async def record_outcome(
    deps: FollowupDependencies,
    client_id: str,
    followup_id: UUID,
    call: CallBack,
    *,
    comment: str | None,
    recorded_by: str,
) -> RecordedOutcome:
    """Close the follow-up with the call's outcome, schedule what it leads to, publish
    `followup.outcome`: all in one transaction."""
    now = deps.clock()
    async with deps.runtime.db.transaction() as session:
        timer = or_not_found(
            await timers.followup_by_id(session, client_id, followup_id, lock=True), NO_FOLLOWUP
        )
        _check_open(timer)
        complaint = await known.complaint(session, timer.complaint_id)
        verdict = judge(call, timer.attempt, deps.settings.max_call_attempts)
        fields = OutcomeFields(
            outcome=verdict.outcome,
            reached=call.reached,
            satisfied=call.satisfied,
            csat=call.csat,
            nps=call.nps,
            comment=comment,
            recorded_by=recorded_by,
            recorded_at=now,
            category=complaint.category if complaint else None,
            remedy=complaint.remedy if complaint else None,
        )
        done = await mark_done(session, followup_id, fields)
        following = await _next_step(session, deps.settings, timer, verdict.next_step, now)
        await deps.runtime.outbox.add(
            session, followup_outcome(timer, verdict.outcome, call, recorded_by, now)
        )
    return RecordedOutcome(done, verdict.outcome, following)


def _check_open(timer: Followup) -> None:
    if timer.kind not in ACTIONABLE_KINDS:
        raise Conflict(f"A {timer.kind} follow-up takes no outcome.")
    # Early is normal: the agent reached the customer before the check fell due (it exists only
    # once compensation was granted or the complaint resolved). The outcome closes it unfired.
    if timer.status not in (FollowupStatus.SCHEDULED, FollowupStatus.FIRED):
        raise Conflict(f"The follow-up is {timer.status}; its outcome cannot be recorded again.")


async def _next_step(
    session: AsyncConnection, settings: FollowupSettings, timer: Followup, step: NextStep, now: datetime
) -> Followup | None:
    """The next attempt of the same call, or a review request for a happy customer."""
    if step is NextStep.RETRY:
        kind, reason_key, attempt, note = timer.kind, timer.reason_key, timer.attempt + 1, timer.note
        # Not reached before the check was due: the planned call still comes, no earlier.
        due_at = max(now + timedelta(seconds=settings.retry_spacing_s), timer.due_at)
    elif step is NextStep.ASK_FOR_REVIEW:
        kind, reason_key, attempt, note = FollowupKind.REVIEW_REQUEST, str(timer.id), 1, None
        due_at = now + timedelta(seconds=settings.review_request_delay_s)
    else:
        return None
    return await timers.schedule(
        session,
        client_id=timer.client_id,
        complaint_id=timer.complaint_id,
        customer_id=timer.customer_id,
        kind=kind,
        due_at=due_at,
        attempt=attempt,
        reason_key=reason_key,
        team=timer.team,
        agent_id=timer.agent_id,
        note=note,
    )


async def summarise_outcomes(
    deps: FollowupDependencies, client_id: str, query: OutcomeQuery
) -> list[OutcomeTally]:
    async with deps.runtime.db.transaction() as session:
        return await outcome_summary(session, client_id, query)
