"""The pure rules of follow-up: when timers fall due and what a call-back means."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from complaints_common.events.contracts import Deadline
from complaints_followup.domain.outcome import (
    CallBack,
    NextStep,
    Outcome,
    is_happy,
    judge,
    net_promoter_score,
)
from complaints_followup.domain.schedule import (
    FollowupKind,
    FollowupStatus,
    deadline_key,
    deadline_timers,
    decision_pending,
    is_overdue,
    satisfaction_check_due,
    warning_time,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_satisfaction_check_falls_due_after_the_configured_delay() -> None:
    assert satisfaction_check_due(T0, timedelta(days=3)) == T0 + timedelta(days=3)


def test_satisfaction_check_is_never_later_than_a_week() -> None:
    assert satisfaction_check_due(T0, timedelta(days=30)) == T0 + timedelta(days=7)


def test_warning_comes_lead_before_a_long_deadline() -> None:
    due = T0 + timedelta(weeks=8)
    assert warning_time(due, T0, timedelta(days=1), 0.2) == due - timedelta(days=1)


def test_warning_for_a_short_deadline_stays_within_its_last_fraction() -> None:
    due = T0 + timedelta(seconds=60)
    assert warning_time(due, T0, timedelta(days=1), 0.2) == T0 + timedelta(seconds=48)


def test_every_running_deadline_gets_a_warning_and_a_breach_and_a_paused_one_none() -> None:
    running = Deadline(name="final_response", due_at=T0 + timedelta(weeks=8))
    paused = Deadline(name="first_response", due_at=None, paused=True)
    timers = deadline_timers([running, paused], T0, timedelta(days=1), 0.2)
    assert [(t.kind, t.deadline_name) for t in timers] == [
        (FollowupKind.DEADLINE_WARNING, "final_response"),
        (FollowupKind.DEADLINE_BREACH, "final_response"),
    ]
    assert timers[1].due_at == running.due_at
    assert {t.reason_key for t in timers} == {deadline_key(running)}


def test_a_met_deadline_is_not_watched_and_a_target_only_warned_about() -> None:
    met = Deadline(
        name="acknowledgement", due_at=T0 + timedelta(seconds=60), met_at=T0 + timedelta(seconds=5)
    )
    target = Deadline(name="first_response", due_at=T0 + timedelta(days=5), breach=False)
    timers = deadline_timers([met, target], T0, timedelta(days=1), 0.2)
    assert [(t.kind, t.deadline_name) for t in timers] == [(FollowupKind.DEADLINE_WARNING, "first_response")]


def test_a_moved_deadline_has_a_new_key() -> None:
    before = Deadline(name="final_response", due_at=T0 + timedelta(days=10))
    after = Deadline(name="final_response", due_at=T0 + timedelta(days=12))
    assert deadline_key(before) != deadline_key(after)


@pytest.mark.parametrize(
    ("pending_since", "settled_at", "pending"),
    [
        (None, None, False),
        (T0, None, True),
        (T0, T0 - timedelta(hours=1), True),  # the grant came before the request for approval
        (T0, T0 + timedelta(hours=1), False),  # approved or rejected afterwards
    ],
)
def test_a_decision_is_pending_until_a_later_one_settles_it(
    pending_since: datetime | None, settled_at: datetime | None, pending: bool
) -> None:
    assert decision_pending(pending_since, settled_at) is pending


def test_not_reached_is_retried_until_the_last_attempt_then_unreachable() -> None:
    call = CallBack(reached=False, satisfied=None, csat=None, nps=None)
    assert judge(call, 1, 3).next_step is NextStep.RETRY
    assert judge(call, 2, 3).outcome is Outcome.NOT_REACHED
    last = judge(call, 3, 3)
    assert (last.outcome, last.next_step) == (Outcome.UNREACHABLE, NextStep.NONE)


def test_dissatisfied_customer_is_dissatisfied_whatever_the_scores() -> None:
    verdict = judge(CallBack(True, False, 5, 10), 1, 3)
    assert (verdict.outcome, verdict.next_step) == (Outcome.DISSATISFIED, NextStep.NONE)


def test_a_happy_customer_is_asked_for_a_review() -> None:
    assert judge(CallBack(True, True, 5, None), 1, 3).next_step is NextStep.ASK_FOR_REVIEW
    assert judge(CallBack(True, True, None, 9), 1, 3).next_step is NextStep.ASK_FOR_REVIEW


def test_a_lukewarm_satisfied_customer_is_not_asked_for_a_review() -> None:
    verdict = judge(CallBack(True, True, 3, 7), 1, 3)
    assert (verdict.outcome, verdict.next_step) == (Outcome.SATISFIED, NextStep.NONE)
    assert not is_happy(CallBack(True, True, None, None))


def test_net_promoter_score() -> None:
    assert net_promoter_score(promoters=5, detractors=2, answered=10) == 30.0
    assert net_promoter_score(0, 0, 0) is None


def test_only_a_fired_call_back_still_waiting_past_the_grace_is_overdue() -> None:
    before = T0 + timedelta(days=1)  # now less the grace
    fired, check = FollowupStatus.FIRED, FollowupKind.SATISFACTION_CHECK
    assert is_overdue(fired, check, T0, before)
    assert is_overdue(fired, FollowupKind.MANUAL, T0, before)
    assert not is_overdue(fired, check, before, before), "due exactly at the grace is not yet overdue"
    assert not is_overdue(FollowupStatus.DONE, check, T0, before), "its outcome is recorded"
    assert not is_overdue(FollowupStatus.SCHEDULED, check, T0, before), "not fired yet"
    assert not is_overdue(fired, FollowupKind.DEADLINE_BREACH, T0, before), "a watch takes no call-back"
