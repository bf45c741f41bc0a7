"""The lifecycle rules, exhaustively: every action from every state is either allowed or refused."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from complaints_intake.domain.complaint import Status
from complaints_intake.domain.lifecycle import (
    MAX_ESCALATION_LEVEL,
    Action,
    IllegalTransition,
    Lifecycle,
    RootCause,
    allowed_actions,
    apply,
    reopen_and_escalate,
)

# The whole table: (status, paused) -> the actions allowed there (no summary resolution window).
OPEN = {Action.ESCALATE, Action.HOLDING_RESPONSE, Action.FINAL_RESPONSE}
EXPECTED: dict[tuple[Status, bool], set[Action]] = {
    (Status.RECEIVED, False): {Action.ACKNOWLEDGE, Action.START, Action.RESOLVE, Action.PAUSE, *OPEN},
    (Status.RECEIVED, True): {Action.ACKNOWLEDGE, Action.START, Action.RESOLVE, Action.RESUME, *OPEN},
    (Status.ACKNOWLEDGED, False): {Action.START, Action.RESOLVE, Action.PAUSE, *OPEN},
    (Status.ACKNOWLEDGED, True): {Action.START, Action.RESOLVE, Action.RESUME, *OPEN},
    (Status.IN_PROGRESS, False): {Action.RESOLVE, Action.PAUSE, *OPEN},
    (Status.IN_PROGRESS, True): {Action.RESOLVE, Action.RESUME, *OPEN},
    (Status.RESOLVED, False): {Action.CLOSE, Action.REOPEN},
    (Status.CLOSED, False): {Action.REOPEN},
}


@pytest.mark.parametrize(("status", "paused"), list(EXPECTED))
def test_each_state_allows_exactly_the_expected_actions(status: Status, paused: bool) -> None:
    state = Lifecycle(status=status, waiting_on_customer=paused)
    assert set(allowed_actions(state)) == EXPECTED[(status, paused)]


@pytest.mark.parametrize(
    ("status", "paused", "action"),
    [
        (status, paused, action)
        for (status, paused), action in itertools.product(EXPECTED, Action)
        if action not in EXPECTED[(status, paused)]
    ],
)
def test_every_illegal_transition_is_refused_with_a_reason(
    status: Status, paused: bool, action: Action
) -> None:
    with pytest.raises(IllegalTransition) as refused:
        apply(Lifecycle(status=status, waiting_on_customer=paused), action)
    assert str(refused.value)


def test_the_happy_path_reaches_closed() -> None:
    state = Lifecycle(status=Status.RECEIVED)
    for action, expected in [
        (Action.ACKNOWLEDGE, Status.ACKNOWLEDGED),
        (Action.START, Status.IN_PROGRESS),
        (Action.RESOLVE, Status.RESOLVED),
        (Action.CLOSE, Status.CLOSED),
    ]:
        change = apply(state, action)
        assert change.status_changed and change.after.status is expected
        state = change.after


def test_reopen_counts_and_restarts_the_clock() -> None:
    change = apply(Lifecycle(status=Status.CLOSED, reopen_count=1), Action.REOPEN)
    assert change.after.status is Status.IN_PROGRESS
    assert change.after.reopen_count == 2


def test_escalate_raises_the_level_and_keeps_the_status() -> None:
    change = apply(Lifecycle(status=Status.ACKNOWLEDGED, escalation_level=1), Action.ESCALATE)
    assert change.after.escalation_level == 2
    assert not change.status_changed and change.publishes_status_change


def test_escalation_stops_at_the_top_level() -> None:
    with pytest.raises(IllegalTransition):
        apply(Lifecycle(status=Status.IN_PROGRESS, escalation_level=MAX_ESCALATION_LEVEL), Action.ESCALATE)


def test_pause_and_resume_move_only_the_clock() -> None:
    paused = apply(Lifecycle(status=Status.IN_PROGRESS), Action.PAUSE)
    assert paused.after.waiting_on_customer and not paused.publishes_status_change
    resumed = apply(paused.after, Action.RESUME)
    assert not resumed.after.waiting_on_customer


def test_resolving_stops_the_clock_and_records_the_root_cause() -> None:
    state = Lifecycle(status=Status.IN_PROGRESS, waiting_on_customer=True)
    change = apply(state, Action.RESOLVE, RootCause.PROCESS)
    assert change.after.root_cause is RootCause.PROCESS
    assert not change.after.waiting_on_customer


def test_a_root_cause_belongs_only_to_resolve() -> None:
    with pytest.raises(IllegalTransition):
        apply(Lifecycle(status=Status.RECEIVED), Action.ESCALATE, RootCause.STAFF)


def test_a_dissatisfied_customer_reopens_and_escalates_a_closed_complaint() -> None:
    changes = reopen_and_escalate(Lifecycle(status=Status.CLOSED))
    assert [c.action for c in changes] == [Action.REOPEN, Action.ESCALATE]
    assert changes[-1].after.status is Status.IN_PROGRESS
    assert changes[-1].after.escalation_level == 1


def test_a_dissatisfied_customer_on_an_open_complaint_only_escalates() -> None:
    changes = reopen_and_escalate(Lifecycle(status=Status.IN_PROGRESS))
    assert [c.action for c in changes] == [Action.ESCALATE]


def test_summary_resolution_is_offered_only_within_its_window() -> None:
    until = datetime(2026, 5, 28, 16, 0, tzinfo=UTC)
    state = Lifecycle(status=Status.IN_PROGRESS, summary_until=until)
    assert Action.SUMMARY_RESOLUTION in allowed_actions(state, until - timedelta(hours=1))
    assert apply(state, Action.SUMMARY_RESOLUTION, at=until).after.status is Status.RESOLVED
    assert Action.SUMMARY_RESOLUTION not in allowed_actions(state, until + timedelta(seconds=1))
    with pytest.raises(IllegalTransition, match="third business day"):
        apply(state, Action.SUMMARY_RESOLUTION, at=until + timedelta(seconds=1))
    with pytest.raises(IllegalTransition, match="offers no summary resolution"):
        apply(Lifecycle(status=Status.IN_PROGRESS), Action.SUMMARY_RESOLUTION, at=until)


def test_a_holding_response_keeps_the_status_and_letters_record_a_root_cause() -> None:
    state = Lifecycle(status=Status.ACKNOWLEDGED)
    change = apply(state, Action.HOLDING_RESPONSE)
    assert change.after == state and not change.publishes_status_change
    final = apply(state, Action.FINAL_RESPONSE, RootCause.PRODUCT)
    assert final.after.status is Status.RESOLVED and final.after.root_cause is RootCause.PRODUCT
    with pytest.raises(IllegalTransition):
        apply(Lifecycle(status=Status.CLOSED), Action.HOLDING_RESPONSE)


def test_allowed_actions_answer_as_apply_does_in_every_state() -> None:
    """Cached by what the rules read: in every state and moment, an allowed action applies and
    every other one is refused."""
    until = datetime(2026, 5, 28, 16, 0, tzinfo=UTC)
    moments = [None, until - timedelta(hours=1), until, until + timedelta(seconds=1)]
    for status, level, paused, summary_until, at in itertools.product(
        Status, (0, 3, MAX_ESCALATION_LEVEL), (False, True), (None, until), moments
    ):
        state = Lifecycle(status, level, paused, reopen_count=level, summary_until=summary_until)
        allowed = allowed_actions(state, at)
        for action in Action:
            if action in allowed:
                apply(state, action, at=at)
            else:
                with pytest.raises(IllegalTransition):
                    apply(state, action, at=at)
