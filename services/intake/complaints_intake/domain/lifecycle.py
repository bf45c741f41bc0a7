"""The complaint's life: which actions are allowed from which state, and what each one changes.

received -> acknowledged -> in_progress -> resolved -> closed; reopen from resolved or closed;
escalate from any open status (raising the escalation level); pause the clock while the complaint
waits on the customer and resume it when they answer. The regulatory letters are actions too: a
holding response (the status stays), a summary resolution communication (resolves, only while the
summary-resolution window is open) and a final response (resolves, with its outcome). Pure rules,
no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from complaints_intake.domain.complaint import Status

OPEN_STATUSES = frozenset({Status.RECEIVED, Status.ACKNOWLEDGED, Status.IN_PROGRESS})
MAX_ESCALATION_LEVEL = 10


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    START = "start"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    ESCALATE = "escalate"
    PAUSE = "pause"
    RESUME = "resume"
    HOLDING_RESPONSE = "holding_response"
    SUMMARY_RESOLUTION = "summary_resolution"
    FINAL_RESPONSE = "final_response"


LETTERS = frozenset({Action.HOLDING_RESPONSE, Action.SUMMARY_RESOLUTION, Action.FINAL_RESPONSE})
RESOLVING = frozenset({Action.RESOLVE, Action.SUMMARY_RESOLUTION, Action.FINAL_RESPONSE})


class RootCause(StrEnum):
    """Where the dissatisfaction came from, recorded so the cause can be removed (fix the process)."""

    PROCESS = "process"
    PRODUCT = "product"
    STAFF = "staff"
    CUSTOMER_EXPECTATION = "customer_expectation"


# For each status-moving action: the statuses it may start from and the status it leads to.
STATUS_MOVES: dict[Action, tuple[frozenset[Status], Status]] = {
    Action.ACKNOWLEDGE: (frozenset({Status.RECEIVED}), Status.ACKNOWLEDGED),
    Action.START: (frozenset({Status.RECEIVED, Status.ACKNOWLEDGED}), Status.IN_PROGRESS),
    Action.RESOLVE: (OPEN_STATUSES, Status.RESOLVED),
    Action.SUMMARY_RESOLUTION: (OPEN_STATUSES, Status.RESOLVED),
    Action.FINAL_RESPONSE: (OPEN_STATUSES, Status.RESOLVED),
    Action.CLOSE: (frozenset({Status.RESOLVED}), Status.CLOSED),
    Action.REOPEN: (frozenset({Status.RESOLVED, Status.CLOSED}), Status.IN_PROGRESS),
}


class IllegalTransition(ValueError):
    """The action is not allowed in the complaint's current state; the message says why."""


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The part of a complaint the lifecycle rules read and change."""

    status: Status
    escalation_level: int = 0
    waiting_on_customer: bool = False
    reopen_count: int = 0
    root_cause: RootCause | None = None
    # Until when a summary resolution communication may be sent (None: the profile offers none).
    summary_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """What one action did: the state before and after, for the audit and the events."""

    action: Action
    before: Lifecycle
    after: Lifecycle

    @property
    def status_changed(self) -> bool:
        return self.before.status != self.after.status

    @property
    def publishes_status_change(self) -> bool:
        """Status moves and escalations are published; pause, resume and a holding response only
        move the clock."""
        return self.action not in (Action.PAUSE, Action.RESUME, Action.HOLDING_RESPONSE)


def apply(
    state: Lifecycle, action: Action, root_cause: RootCause | None = None, *, at: datetime | None = None
) -> Change:
    """The state after `action` at `at`, or IllegalTransition naming the state that forbids it.

    `at` matters only to a summary resolution; without it the window is taken as open.
    """
    if action in STATUS_MOVES:
        after = _move(state, action)
        if action is Action.SUMMARY_RESOLUTION:
            _summary_window(state, at)
    elif action is Action.ESCALATE:
        after = _escalate(state)
    elif action is Action.HOLDING_RESPONSE:
        if state.status not in OPEN_STATUSES:
            raise IllegalTransition(f"Cannot send a holding response on a complaint that is {state.status}.")
        after = state
    else:
        after = _clock(state, action)
    if root_cause is not None:
        if action not in RESOLVING:
            raise IllegalTransition("A root cause is recorded when the complaint is resolved.")
        after = replace(after, root_cause=root_cause)
    return Change(action, state, after)


def _summary_window(state: Lifecycle, at: datetime | None) -> None:
    if state.summary_until is None:
        raise IllegalTransition("The complaint's deadline profile offers no summary resolution.")
    if at is not None and at > state.summary_until:
        raise IllegalTransition(
            "A summary resolution is only possible by the close of the third business day after "
            f"receipt ({state.summary_until.isoformat()}); send a final response instead."
        )


def allowed_actions(state: Lifecycle, at: datetime | None = None) -> list[Action]:
    """Every action `apply` would accept at `at`, so a CRM can show only the buttons that work."""
    # None: no summary resolution window offered; else whether it is open at `at`.
    window = None if state.summary_until is None else (at is None or at <= state.summary_until)
    top = state.escalation_level >= MAX_ESCALATION_LEVEL
    return list(_allowed(state.status, top, state.waiting_on_customer, window))


@cache
def _allowed(status: Status, top: bool, waiting: bool, window: bool | None) -> tuple[Action, ...]:
    """`apply`'s answer for each action, asked once per combination of what its rules read: the
    status, whether the escalation level is at the top, whether the clock is paused and whether a
    summary resolution window is offered (None) and open. Every complaint view shows these, and
    trying eleven actions (most of them raising) per view cost more than the rest of the view."""
    moment = datetime.min
    state = Lifecycle(
        status,
        escalation_level=MAX_ESCALATION_LEVEL if top else 0,
        waiting_on_customer=waiting,
        summary_until=None if window is None else moment,
    )
    at = moment if window else moment + timedelta(seconds=1)
    allowed = []
    for action in Action:
        try:
            apply(state, action, at=at)
        except IllegalTransition:
            continue
        allowed.append(action)
    return tuple(allowed)


def _move(state: Lifecycle, action: Action) -> Lifecycle:
    sources, target = STATUS_MOVES[action]
    if state.status not in sources:
        allowed = ", ".join(sorted(sources))
        raise IllegalTransition(
            f"Cannot {action} a complaint that is {state.status}; allowed only from: {allowed}."
        )
    if action is Action.REOPEN:
        # A reopened complaint is active again: the clock runs and the old root cause may be wrong.
        return replace(state, status=target, reopen_count=state.reopen_count + 1, waiting_on_customer=False)
    if target in (Status.RESOLVED, Status.CLOSED):
        return replace(state, status=target, waiting_on_customer=False)
    return replace(state, status=target)


def _escalate(state: Lifecycle) -> Lifecycle:
    if state.status not in OPEN_STATUSES:
        raise IllegalTransition(f"Cannot escalate a complaint that is {state.status}; reopen it first.")
    if state.escalation_level >= MAX_ESCALATION_LEVEL:
        raise IllegalTransition(
            f"The complaint is already at the highest escalation level ({MAX_ESCALATION_LEVEL})."
        )
    return replace(state, escalation_level=state.escalation_level + 1)


def _clock(state: Lifecycle, action: Action) -> Lifecycle:
    if state.status not in OPEN_STATUSES:
        raise IllegalTransition(f"Cannot {action} the clock of a complaint that is {state.status}.")
    if action is Action.PAUSE:
        if state.waiting_on_customer:
            raise IllegalTransition("The clock is already paused: the complaint waits on the customer.")
        return replace(state, waiting_on_customer=True)
    if not state.waiting_on_customer:
        raise IllegalTransition("The clock is not paused, so there is nothing to resume.")
    return replace(state, waiting_on_customer=False)


def reopen_and_escalate(state: Lifecycle) -> list[Change]:
    """What a dissatisfied follow-up does: reopen if resolved or closed, then escalate one level."""
    changes = []
    if state.status not in OPEN_STATUSES:
        changes.append(apply(state, Action.REOPEN))
        state = changes[-1].after
    if state.escalation_level < MAX_ESCALATION_LEVEL:
        changes.append(apply(state, Action.ESCALATE))
    return changes
