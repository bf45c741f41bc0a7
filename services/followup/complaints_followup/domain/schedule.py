"""When follow-ups fall due: pure rules, no I/O. `now` is always passed in, so tests own the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from complaints_common.events.contracts import Deadline

Clock = Callable[[], datetime]

MAX_SATISFACTION_DELAY = timedelta(days=7)


class FollowupStatus(StrEnum):
    """A timer's life: scheduled -> fired -> done (an outcome was recorded), or cancelled."""

    SCHEDULED = "scheduled"
    FIRED = "fired"
    CANCELLED = "cancelled"
    DONE = "done"


class FollowupKind(StrEnum):
    """Each kind and the event it produces (all are `followup.due` with this `kind`)."""

    SATISFACTION_CHECK = "satisfaction_check"  # call the customer back: satisfied?
    DEADLINE_WARNING = "deadline_warning"  # a due time the complaint carries is near
    DEADLINE_BREACH = "deadline_breach"  # ... and has now been missed
    MANUAL = "manual"  # an agent flagged the customer for a call-back
    REVIEW_REQUEST = "review_request"  # a happy customer: ask for a review


# Kinds an agent acts on and records an outcome for; deadline watches only inform.
ACTIONABLE_KINDS = frozenset({FollowupKind.SATISFACTION_CHECK, FollowupKind.MANUAL})
DEADLINE_KINDS = frozenset({FollowupKind.DEADLINE_WARNING, FollowupKind.DEADLINE_BREACH})


class CancelReason(StrEnum):
    """Why a timer will never fire: its reason has gone."""

    COMPLAINT_CLOSED = "complaint_closed"
    COMPLAINT_RESOLVED = "complaint_resolved"  # deadline watches end when the complaint is resolved
    COMPENSATION_REJECTED = "compensation_rejected"
    DEADLINE_CHANGED = "deadline_changed"
    CUSTOMER_SURVEYED_RECENTLY = "customer_surveyed_recently"
    CANCELLED_BY_AGENT = "cancelled_by_agent"


def is_overdue(
    status: FollowupStatus, kind: FollowupKind, due_at: datetime, overdue_before: datetime
) -> bool:
    """Fired, waiting for an agent's call-back, and due before `overdue_before` (now less the grace)."""
    return status == FollowupStatus.FIRED and kind in ACTIONABLE_KINDS and due_at < overdue_before


def system_clock() -> datetime:
    return datetime.now(UTC)


def satisfaction_check_due(settled_at: datetime, delay: timedelta) -> datetime:
    """The satisfaction call-back: `delay` after the complaint was settled, never over a week."""
    return settled_at + min(delay, MAX_SATISFACTION_DELAY)


@dataclass(frozen=True, slots=True)
class DeadlineTimer:
    """One timer a deadline needs: its kind, when it fires, and the key that names this due time."""

    kind: FollowupKind
    deadline_name: str
    due_at: datetime
    reason_key: str


def deadline_key(deadline: Deadline) -> str:
    """A moved deadline is a new due time, so its key carries the time: a changed deadline's old
    timers are cancelled and new ones scheduled, while a redelivered event matches the same key."""
    assert deadline.due_at is not None
    return f"{deadline.name}@{deadline.due_at.astimezone(UTC).isoformat()}"


def warning_time(due_at: datetime, started_at: datetime, lead: timedelta, fraction: float) -> datetime:
    """Warn `lead` before the breach, but never earlier than the last `fraction` of the span, so a
    60-second acknowledgement is not warned about a day ahead."""
    span = max(due_at - started_at, timedelta(0))
    return due_at - min(lead, span * fraction)


def deadline_timers(
    deadlines: Iterable[Deadline], started_at: datetime, lead: timedelta, fraction: float
) -> list[DeadlineTimer]:
    """A warning and a breach timer for every running deadline. A paused one (no due time) and a met
    one have none; a target whose miss is no breach gets only the warning."""
    timers = []
    for deadline in deadlines:
        if deadline.paused or deadline.due_at is None or deadline.met_at is not None:
            continue
        key = deadline_key(deadline)
        warn_at = warning_time(deadline.due_at, started_at, lead, fraction)
        timers.append(DeadlineTimer(FollowupKind.DEADLINE_WARNING, deadline.name, warn_at, key))
        if deadline.breach:
            timers.append(DeadlineTimer(FollowupKind.DEADLINE_BREACH, deadline.name, deadline.due_at, key))
    return timers


def decision_pending(pending_since: datetime | None, settled_at: datetime | None) -> bool:
    """A compensation decision waits for approval if the latest word on it is 'pending'.
    The two facts come from different topics, so their times, not their arrival order, decide."""
    if pending_since is None:
        return False
    return settled_at is None or settled_at < pending_since
