"""Due times as regulators count them: calendar and business time, holidays, pauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from complaints_intake.domain.complaint import Status
from complaints_intake.domain.deadlines import (
    BusinessClock,
    Pause,
    compute,
    due_at,
    next_due,
    pauses_from,
    shipped_rules,
)

RULES = shipped_rules()
GB = BusinessClock(RULES.calendars["GB-ENG"])
US = BusinessClock(RULES.calendars["US"])
DAY = GB.day_seconds  # 8 working hours


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def due(profile: str, name: str, filed: datetime, pauses: list[Pause] | None = None) -> datetime | None:
    times = compute(RULES, profile, filed, pauses or [], [])
    return next(d.due_at for d in times if d.name == name)


def test_profiles_are_chosen_by_category_then_client_then_default() -> None:
    assert RULES.profile_for("crm-x", "Payments") == "uk-fca-payments"
    assert RULES.profile_for("crm-x", "billing") == "standard"


def test_acknowledge_within_sixty_seconds() -> None:
    assert due("standard", "acknowledge", utc(2026, 11, 23, 10, 0)) == utc(2026, 11, 23, 10, 1)


def test_fca_final_response_is_eight_calendar_weeks() -> None:
    assert due("uk-fca", "final_response", utc(2026, 11, 23, 10, 0)) == utc(2027, 1, 18, 10, 0)


def test_cfpb_counts_calendar_days() -> None:
    filed = utc(2026, 11, 23, 15, 0)
    assert due("us-cfpb", "response", filed) == filed + timedelta(days=15)
    assert due("us-cfpb", "final_response", filed) == filed + timedelta(days=60)


def test_business_days_skip_weekends_and_bank_holidays() -> None:
    # Filed Wednesday 23 Dec 2026 09:00 London (UTC in winter). Working days after: 24 Dec, then
    # 25 Dec and 28 Dec are bank holidays, 26-27 the weekend; 29, 30, 31 Dec, 1 Jan is a holiday...
    filed = utc(2026, 12, 23, 9, 0)
    # 3 business days: 23, 24, 29 December -> due at the close of the 29th.
    assert due("uk-fca", "summary_resolution", filed) == utc(2026, 12, 29, 17, 0)
    # 15 business days: 23, 24, 29, 30, 31 Dec; 4-8 Jan; 11-15 Jan -> 17:00 on 15 January 2027.
    assert due("uk-fca-payments", "final_response", filed) == utc(2027, 1, 15, 17, 0)


def test_a_complaint_filed_out_of_hours_starts_at_the_next_opening() -> None:
    saturday_night = utc(2026, 11, 28, 22, 0)
    assert GB.add(saturday_night, 3600) == utc(2026, 11, 30, 10, 0)


def test_business_hours_follow_the_local_time_zone_in_summer() -> None:
    # 09:00 in London is 08:00 UTC in July; in New York 13:00 UTC.
    assert GB.add(utc(2026, 7, 1, 0, 0), 0.0) == utc(2026, 7, 1, 8, 0)
    assert US.add(utc(2026, 7, 1, 0, 0), 0.0) == utc(2026, 7, 1, 13, 0)
    # Independence Day is observed on Friday 3 July 2026.
    assert US.add(utc(2026, 7, 2, 21, 30), 60.0) == utc(2026, 7, 6, 13, 1)


def test_elapsed_business_time_is_the_inverse_of_add() -> None:
    start = utc(2026, 12, 22, 11, 30)
    end = GB.add(start, 5 * DAY + 1234)
    assert GB.elapsed(start, end) == pytest.approx(5 * DAY + 1234)


def test_a_pause_moves_the_due_time_by_its_length() -> None:
    filed = utc(2026, 11, 2, 10, 0)
    pause = Pause(utc(2026, 11, 5, 10, 0), utc(2026, 11, 9, 10, 0))
    assert due("us-cfpb", "response", filed, [pause]) == filed + timedelta(days=19)


def test_a_pause_in_business_time_moves_only_working_time() -> None:
    # Filed Monday 2 Nov 2026 09:00; paused Tuesday 09:00 (one business day used) until Monday 9 Nov
    # 09:00: two business days still owed from then -> Tuesday 10 Nov 17:00.
    filed = utc(2026, 11, 2, 9, 0)
    pause = Pause(utc(2026, 11, 3, 9, 0), utc(2026, 11, 9, 9, 0))
    assert due("uk-fca", "summary_resolution", filed, [pause]) == utc(2026, 11, 10, 17, 0)


def test_while_paused_there_is_no_due_time() -> None:
    filed = utc(2026, 11, 2, 9, 0)
    times = compute(RULES, "us-cfpb", filed, [Pause(utc(2026, 11, 3, 9, 0), None)], [])
    final = next(d for d in times if d.name == "final_response")
    assert final.due_at is None and final.paused
    assert next_due(times) is None or next_due(times) == utc(2026, 11, 2, 9, 1)


def test_a_pause_after_the_deadline_does_not_move_it() -> None:
    filed = utc(2026, 11, 2, 9, 0)
    late = Pause(utc(2026, 11, 20, 9, 0), utc(2026, 11, 25, 9, 0))
    assert due_at(filed, GB, DAY, [late]) == utc(2026, 11, 2, 17, 0)


def test_met_deadlines_are_frozen_and_misses_are_breaches() -> None:
    filed = utc(2026, 11, 2, 9, 0)
    reached = [(Status.RECEIVED, filed), (Status.ACKNOWLEDGED, filed + timedelta(seconds=5))]
    times = {d.name: d for d in compute(RULES, "standard", filed, [], reached)}
    assert times["acknowledge"].met_at == filed + timedelta(seconds=5)
    assert not times["acknowledge"].missed(filed + timedelta(days=100))
    assert times["final_response"].missed(filed + timedelta(days=16))
    assert next_due(list(times.values())) == filed + timedelta(days=15)


def test_pauses_come_from_the_audited_history() -> None:
    t = [utc(2026, 11, 2, h, 0) for h in range(9, 15)]
    history = [
        ("file", t[0]),
        ("pause", t[1]),
        ("resume", t[2]),
        ("pause", t[3]),
        ("resolve", t[4]),
        ("pause", t[5]),
    ]
    assert pauses_from(history) == [Pause(t[1], t[2]), Pause(t[3], t[4]), Pause(t[5], None)]
