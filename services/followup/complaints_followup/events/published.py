"""What follow-up publishes: a satisfaction check scheduled, a timer fallen due, a call-back's outcome."""

from __future__ import annotations

from datetime import datetime

from complaints_common.events.contracts import FollowupDueV1, FollowupOutcomeV1, FollowupScheduledV1
from complaints_common.events.envelope import (
    FOLLOWUP_DUE_V1,
    FOLLOWUP_OUTCOME_V1,
    FOLLOWUP_SCHEDULED_V1,
    Event,
)
from complaints_followup.domain.outcome import CallBack, Outcome
from complaints_followup.store.timers import Followup

SOURCE = "/complaints/followup"


def followup_scheduled(timer: Followup) -> Event[FollowupScheduledV1]:
    """A CRM shows the follow-up (and its due time) before it falls due."""
    data = FollowupScheduledV1(
        complaint_id=timer.complaint_id,
        client_id=timer.client_id,
        followup_id=timer.id,
        customer_id=timer.customer_id,
        kind=timer.kind,
        due_at=timer.due_at,
        scheduled_at=timer.created_at,
    )
    return Event(FOLLOWUP_SCHEDULED_V1, data, SOURCE)


def followup_due(timer: Followup, fired_at: datetime) -> Event[FollowupDueV1]:
    data = FollowupDueV1(
        complaint_id=timer.complaint_id,
        client_id=timer.client_id or None,
        followup_id=timer.id,
        customer_id=timer.customer_id,
        kind=timer.kind,
        due_at=timer.due_at,
        fired_at=fired_at,
        attempt=timer.attempt,
        deadline_name=timer.deadline_name,
    )
    return Event(FOLLOWUP_DUE_V1, data, SOURCE)


def followup_outcome(
    timer: Followup, outcome: Outcome, call: CallBack, recorded_by: str, recorded_at: datetime
) -> Event[FollowupOutcomeV1]:
    """Scores travel (they are not personal); the comment does not."""
    data = FollowupOutcomeV1(
        complaint_id=timer.complaint_id,
        client_id=timer.client_id,
        followup_id=timer.id,
        customer_id=timer.customer_id,
        outcome=outcome,
        attempt=timer.attempt,
        csat=call.csat,
        nps=call.nps,
        recorded_by=recorded_by,
        recorded_at=recorded_at,
    )
    return Event(FOLLOWUP_OUTCOME_V1, data, SOURCE)
