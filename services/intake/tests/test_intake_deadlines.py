"""Due times as regulators count them: calendar and business time, holidays, pauses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from complaints_intake.domain.complaint import Status
from complaints_intake.domain.deadlines import (
    BusinessClock,
    DeadlineRules,
    Kind,
    Letter,
    Pause,
    Selection,
    compute,
    due_at,
    next_due,
    pauses_from,
    shipped_rules,
)

RULES = shipped_rules()
GB = BusinessClock(RULES.calendars["GB-EAW"])
US = BusinessClock(RULES.calendars["US"])
DAY = GB.day_seconds  # 8 working hours


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def due(
    profile: str,
    name: str,
    filed: datetime,
    pauses: list[Pause] | None = None,
    *,
    calendar: str | None = None,
    letters: list[tuple[Letter, datetime]] | None = None,
) -> datetime | None:
    times = compute(RULES, profile, filed, pauses or [], [], calendar=calendar, letters=letters or [])
    return next(d.due_at for d in times if d.name == name)


def test_profiles_are_chosen_by_category_then_client_then_default() -> None:
    fca, payments = Selection(profile="uk-fca-disp"), Selection(profile="uk-payment-services")
    assert RULES.profile_for(fca, payments).name == "uk-payment-services"
    assert RULES.profile_for(fca, payments).reason == "set by the client for this category"
    assert RULES.profile_for(fca, Selection()).name == "uk-fca-disp"
    assert RULES.profile_for(Selection(), Selection()).name == "standard"
    assert RULES.profile_for(Selection(), Selection()).reason == "the platform's default"


def test_calendars_follow_the_customers_region_then_the_client_then_the_profile() -> None:
    none, sct = Selection(), Selection(calendar="GB-SCT")
    assert RULES.calendar_for("uk-fca-disp", "GB-SCT", none, none).name == "GB-SCT"
    assert RULES.calendar_for("uk-fca-disp", "gb-nir", none, none).name == "GB-NIR"
    assert RULES.calendar_for("uk-fca-disp", "GB-WLS", sct, none).name == "GB-EAW"
    assert RULES.calendar_for("uk-fca-disp", None, none, sct).name == "GB-SCT"
    assert RULES.calendar_for("uk-fca-disp", "FR", sct, none).name == "GB-SCT"
    assert RULES.calendar_for("uk-fca-disp", None, none, none).reason == "the profile's calendar"
    assert RULES.calendar_for("us-cfpb", "US-CA", none, none).name == "US"
    assert RULES.calendar_for("standard", None, none, none).name is None


def test_every_calendar_states_the_years_it_covers_and_warns_before_it_runs_out() -> None:
    assert all(c.covers[0] <= h.year <= c.covers[1] for c in RULES.calendars.values() for h in c.holidays)
    assert RULES.expiring_calendars(date(2026, 12, 1)) == []
    assert RULES.expiring_calendars(date(2028, 10, 15)) == ["GB-EAW", "GB-NIR", "GB-SCT", "US"]


def test_a_scottish_customers_business_days_skip_st_andrews_day() -> None:
    # Received Thursday 26 Nov 2026. St Andrew's Day is Monday 30 November in Scotland only.
    filed = utc(2026, 11, 26, 10, 0)
    # Three business days after the day of receipt: England 27, 30 Nov, 1 Dec; Scotland 27 Nov, 1, 2 Dec.
    assert due("uk-fca-disp", "summary_resolution", filed, calendar="GB-EAW") == utc(2026, 12, 1, 17, 0)
    assert due("uk-fca-disp", "summary_resolution", filed, calendar="GB-SCT") == utc(2026, 12, 2, 17, 0)
    assert not BusinessClock(RULES.calendars["GB-SCT"]).is_working_day(date(2026, 11, 30))
    assert GB.is_working_day(date(2026, 11, 30))


def test_an_fca_deadline_never_pauses_while_the_service_level_does() -> None:
    # Received Friday 22 May 2026 before the Spring bank holiday weekend (Monday 25 May), then
    # paused ten days waiting on the customer.
    filed = utc(2026, 5, 22, 11, 0)  # 12:00 in London
    pause = Pause(utc(2026, 5, 26, 11, 0), utc(2026, 6, 5, 11, 0))
    times = {d.name: d for d in compute(RULES, "uk-fca-disp", filed, [pause], [])}
    assert times["final_response"].kind is Kind.STATUTORY
    assert times["final_response"].due_at == filed + timedelta(weeks=8)
    # Summary resolution: the third business day after Friday skips the bank holiday: 26, 27, 28 May.
    assert times["summary_resolution"].due_at == utc(2026, 5, 28, 16, 0)
    unpaused = {d.name: d for d in compute(RULES, "uk-fca-disp", filed, [], [])}
    assert times["service_level"].kind is Kind.OPERATIONAL
    # The operational SLA moved by the working time the pause took (8 business days here).
    moved, before = times["service_level"].due_at, unpaused["service_level"].due_at
    assert moved is not None and before is not None and moved - before >= timedelta(days=10)
    assert GB.elapsed(before, moved) == pytest.approx(GB.elapsed(pause.started, utc(2026, 6, 5, 11, 0)))
    assert GB.elapsed(before, moved) == pytest.approx(8 * DAY)


def test_payment_services_deadline_moves_to_35_business_days_only_after_a_holding_response() -> None:
    # Received Monday 2 Nov 2026 10:00: 15 business days after it end on Monday 23 November.
    filed = utc(2026, 11, 2, 10, 0)
    assert due("uk-payment-services", "final_response", filed) == utc(2026, 11, 23, 17, 0)
    # A pause does not move it (statutory).
    pause = Pause(utc(2026, 11, 3, 10, 0), utc(2026, 11, 13, 10, 0))
    assert due("uk-payment-services", "final_response", filed, [pause]) == utc(2026, 11, 23, 17, 0)
    # After a holding reply: 35 business days after 2 Nov -> Monday 21 December.
    holding = [(Letter.HOLDING_RESPONSE, utc(2026, 11, 20, 10, 0))]
    assert due("uk-payment-services", "final_response", filed, letters=holding) == utc(2026, 12, 21, 17, 0)
    # The FCA's 8 weeks are met by a holding response, not extended.
    fca = {d.name: d for d in compute(RULES, "uk-fca-disp", filed, [], [], letters=holding)}
    assert fca["final_response"].met_at == holding[0][1]
    assert fca["final_response"].due_at == filed + timedelta(weeks=8)


def test_close_of_day_counting_is_only_for_statutory_business_days() -> None:
    data = RULES.model_dump()
    data["profiles"]["standard"]["deadlines"][1] |= {"close_of_day": True}
    with pytest.raises(ValueError, match="close of a day"):
        DeadlineRules.model_validate(data).check()


def test_acknowledge_within_sixty_seconds() -> None:
    assert due("standard", "acknowledge", utc(2026, 11, 23, 10, 0)) == utc(2026, 11, 23, 10, 1)


def test_fca_final_response_is_eight_calendar_weeks() -> None:
    assert due("uk-fca-disp", "final_response", utc(2026, 11, 23, 10, 0)) == utc(2027, 1, 18, 10, 0)


def test_cfpb_counts_calendar_days() -> None:
    filed = utc(2026, 11, 23, 15, 0)
    assert due("us-cfpb", "response", filed) == filed + timedelta(days=15)
    assert due("us-cfpb", "final_response", filed) == filed + timedelta(days=60)


def test_business_days_skip_weekends_and_bank_holidays() -> None:
    # Filed Wednesday 23 Dec 2026 09:00 London (UTC in winter). Working days after: 24 Dec, then
    # 25 Dec and 28 Dec are bank holidays, 26-27 the weekend; 29, 30, 31 Dec, 1 Jan is a holiday...
    filed = utc(2026, 12, 23, 9, 0)
    # The third business day after the day of receipt: 24, 29, 30 December.
    assert due("uk-fca-disp", "summary_resolution", filed) == utc(2026, 12, 30, 17, 0)
    # 15 business days after it: 24, 29, 30, 31 Dec; 4-8 Jan; 11-15 Jan; 18 Jan -> 18 January 2027.
    assert due("uk-payment-services", "final_response", filed) == utc(2027, 1, 18, 17, 0)
    # Received after the close, or on a holiday: as if received on the next working day.
    assert due("uk-fca-disp", "summary_resolution", utc(2026, 12, 24, 18, 0)) == utc(2027, 1, 4, 17, 0)


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
    assert due("standard", "final_response", filed, [pause]) == filed + timedelta(days=19)
    # A statutory clock does not stop.
    assert due("us-cfpb", "response", filed, [pause]) == filed + timedelta(days=15)


def test_a_pause_in_business_time_moves_only_working_time() -> None:
    # Filed Monday 2 Nov 2026 09:00; paused Tuesday 09:00 (one business day used) until Monday 9 Nov
    # 09:00: two business days still owed from then -> Tuesday 10 Nov 17:00.
    filed = utc(2026, 11, 2, 9, 0)
    pause = Pause(utc(2026, 11, 3, 9, 0), utc(2026, 11, 9, 9, 0))
    assert due_at(filed, GB, 3 * DAY, [pause]) == utc(2026, 11, 10, 17, 0)


def test_while_paused_there_is_no_due_time() -> None:
    filed = utc(2026, 11, 2, 9, 0)
    times = compute(RULES, "standard", filed, [Pause(utc(2026, 11, 3, 9, 0), None)], [])
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


def test_a_reopened_complaint_runs_the_profiles_reopened_deadline_from_its_latest_reopen() -> None:
    filed = utc(2026, 11, 2, 9, 0)
    resolved, reopened = filed + timedelta(days=3), filed + timedelta(days=10)
    reached = [(Status.RECEIVED, filed), (Status.RESOLVED, resolved), (Status.IN_PROGRESS, reopened)]
    times = {d.name: d for d in compute(RULES, "standard", filed, [], reached, reopens=[reopened])}
    assert times["final_response"].met_at == resolved  # the original stays met
    running = times["reopened_resolution"]
    assert (running.due_at, running.met_at, running.kind) == (
        reopened + timedelta(days=15),
        None,
        "operational",
    )
    assert next_due(list(times.values())) == reopened + timedelta(days=15)
    # Waiting on the customer after the reopen stops it; resolving again meets it.
    waiting = Pause(reopened + timedelta(days=1), None)
    paused = compute(RULES, "standard", filed, [waiting], reached, reopens=[reopened])
    assert paused[-1].paused and paused[-1].due_at is None
    again = [*reached, (Status.RESOLVED, reopened + timedelta(days=2))]
    met = compute(RULES, "standard", filed, [], again, reopens=[reopened])[-1]
    assert met.met_at == reopened + timedelta(days=2) and not met.missed(reopened + timedelta(days=30))


def test_every_shipped_profile_states_its_reopened_deadline() -> None:
    for name, profile in RULES.profiles.items():
        assert profile.reopened.name == "reopened_resolution", name
        assert profile.reopened.met_by is Status.RESOLVED
