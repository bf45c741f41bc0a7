"""Due times, the way regulators count them: calendar or business time, statutory or operational.
Profiles and calendars are data (data/*.yaml); everything here is pure and testable.

Two kinds of clock. A statutory deadline (the FCA's 8 weeks, the payment services' 15 business days)
runs from receipt and never pauses. An operational one (the platform's or the client's service
level) runs from filing; each pause (waiting on the customer) stops it and each resume restarts it,
so its due time is recomputed from those events: the time still owed when a pause began is added
from the moment the customer answered. A letter may meet a deadline (the FCA's holding response at
8 weeks) or extend it (the payment services' holding reply: 15 business days become 35).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from importlib import resources
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field

from complaints_intake.domain.complaint import Status

# The order a complaint moves forward in: reaching a status meets every deadline of an earlier one.
PROGRESS = [Status.RECEIVED, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED]
MAX_DAYS_WALKED = 3 * 366  # a business clock never searches further than this for working time


class Unit(StrEnum):
    SECONDS = "seconds"
    MINUTES = "minutes"
    HOURS = "hours"
    CALENDAR_DAYS = "calendar_days"
    WEEKS = "weeks"
    BUSINESS_DAYS = "business_days"
    BUSINESS_HOURS = "business_hours"


class Kind(StrEnum):
    """Statutory: from receipt, never paused. Operational: a service level, paused while waiting."""

    STATUTORY = "statutory"
    OPERATIONAL = "operational"


class Letter(StrEnum):
    """The regulatory letters a complaint may get; each is an audited lifecycle action."""

    HOLDING_RESPONSE = "holding_response"
    SUMMARY_RESOLUTION = "summary_resolution"
    FINAL_RESPONSE = "final_response"


CALENDAR_SECONDS = {
    Unit.SECONDS: 1,
    Unit.MINUTES: 60,
    Unit.HOURS: 3600,
    Unit.CALENDAR_DAYS: 86400,
    Unit.WEEKS: 7 * 86400,
}
BUSINESS_UNITS = frozenset({Unit.BUSINESS_DAYS, Unit.BUSINESS_HOURS})
CALENDAR_WARNING = timedelta(days=90)
REOPENED = "reopened_resolution"


class CalendarSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    timezone: str
    working_hours: tuple[time, time]
    working_days: frozenset[int] = Field(default=frozenset({1, 2, 3, 4, 5}))
    covers: tuple[int, int] = Field(description="The first and last year whose holidays are listed.")
    holidays: frozenset[date] = frozenset()

    @property
    def covered_until(self) -> date:
        return date(self.covers[1], 12, 31)


class Extension(BaseModel):
    """After `after` is sent, the deadline is `amount` of its unit instead (a holding reply's 35 days)."""

    model_config = ConfigDict(extra="forbid")

    after: Letter
    amount: int = Field(gt=0)


class DeadlineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=60)
    kind: Kind = Kind.OPERATIONAL
    amount: int = Field(gt=0)
    unit: Unit
    met_by: Status
    met_by_letter: Letter | None = Field(default=None, description="A letter that also meets it.")
    close_of_day: bool = Field(
        default=False,
        description="Count whole business days after the day of receipt, due at the close of the last.",
    )
    extension: Extension | None = None
    breach: bool = Field(default=True, description="False: missing it is no breach (e.g. a fast-track).")


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    regime: str | None = Field(default=None, description="The regulator reported to (complaints return).")
    calendar: str | None = Field(default=None, description="Business days unless the complaint's differ.")
    retention_years: int = Field(
        default=3, ge=1, le=100, description="How long the complaint record is kept from receipt."
    )
    deadlines: list[DeadlineSpec]
    reopened: DeadlineSpec = Field(
        default_factory=lambda: DeadlineSpec(
            name=REOPENED, amount=15, unit=Unit.CALENDAR_DAYS, met_by=Status.RESOLVED
        ),
        description=(
            "The deadline a reopened complaint runs on: from its latest reopen, met by the next "
            "resolution, operational (paused while waiting on the customer). The original deadlines "
            "keep the times they were met."
        ),
    )

    def retained_after(self, now: datetime) -> datetime:
        """Complaints received before this are past their retention and purged."""
        try:
            return now.replace(year=now.year - self.retention_years)
        except ValueError:  # 29 February in a year without one
            return now.replace(year=now.year - self.retention_years, day=28)

    @property
    def needs_calendar(self) -> bool:
        return any(d.unit in BUSINESS_UNITS for d in [*self.deadlines, self.reopened])


@dataclass(frozen=True, slots=True)
class Choice:
    """A profile or calendar a complaint got, and why (shown on the complaint)."""

    name: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Selection:
    """A tenant's own choice of profile and calendar, tenant-wide or for one category."""

    profile: str | None = None
    calendar: str | None = None


class DeadlineRules(BaseModel):
    """Every profile and calendar, and which profile and calendar a complaint gets."""

    model_config = ConfigDict(extra="forbid")

    default_profile: str
    profiles: dict[str, Profile]
    calendars: dict[str, CalendarSpec] = Field(default_factory=dict)
    # The customer's region (ISO 3166-2, or its country) -> the calendar of that jurisdiction.
    region_calendars: dict[str, str] = Field(default_factory=dict)

    def profile_for(self, tenant: Selection, category: Selection) -> Choice:
        """The category's profile as the tenant set it, else the tenant's, else the platform's."""
        if category.profile:
            return Choice(category.profile, "set by the client for this category")
        if tenant.profile:
            return Choice(tenant.profile, "set by the client")
        return Choice(self.default_profile, "the platform's default")

    def calendar_for(
        self, profile: str, region: str | None, tenant: Selection, category: Selection
    ) -> Choice:
        """Business days as the customer's jurisdiction counts them; else as the client chose for the
        category or for all; else the profile's own calendar, if it has one."""
        by_region = self.region_calendar(region)
        if by_region:
            return Choice(by_region, f"the customer's region {region}")
        if category.calendar:
            return Choice(category.calendar, "set by the client for this category")
        if tenant.calendar:
            return Choice(tenant.calendar, "set by the client")
        if self.profiles[profile].calendar:
            return Choice(self.profiles[profile].calendar, "the profile's calendar")
        return Choice(None, "the profile counts no business days")

    def region_calendar(self, region: str | None) -> str | None:
        if not region:
            return None
        region = region.upper()
        return self.region_calendars.get(region) or self.region_calendars.get(region.split("-")[0])

    def check(self) -> DeadlineRules:
        """Every name a profile or mapping refers to exists: a typo fails at start-up, not at filing."""
        missing = {self.default_profile} - self.profiles.keys()
        calendars = {p.calendar for p in self.profiles.values() if p.calendar}
        missing |= (calendars | set(self.region_calendars.values())) - self.calendars.keys()
        lacking = [name for name, p in self.profiles.items() if p.needs_calendar and not p.calendar]
        clear_days = [
            d.name
            for p in self.profiles.values()
            for d in p.deadlines
            if d.close_of_day and (d.unit is not Unit.BUSINESS_DAYS or d.kind is not Kind.STATUTORY)
        ]
        if missing or lacking or clear_days:
            raise ValueError(
                f"deadline rules refer to unknown names {sorted(missing)}, profiles {lacking} lack a "
                f"calendar, or deadlines {clear_days} count to the close of a day but are not "
                "statutory business days"
            )
        return self

    def expiring_calendars(self, today: date) -> list[str]:
        """Calendars whose listed holidays run out within 90 days: business days would be wrong."""
        return sorted(n for n, c in self.calendars.items() if c.covered_until - today < CALENDAR_WARNING)


@functools.cache
def shipped_rules() -> DeadlineRules:
    """The profiles and calendars shipped in the package (data/*.yaml)."""
    data = resources.files("complaints_intake") / "data"
    profiles: dict[str, Any] = yaml.safe_load((data / "deadline_profiles.yaml").read_text())
    calendars: dict[str, Any] = yaml.safe_load((data / "calendars.yaml").read_text())
    return DeadlineRules.model_validate({**profiles, **calendars}).check()


class Clock(Protocol):
    def add(self, start: datetime, seconds: float) -> datetime: ...
    def elapsed(self, start: datetime, end: datetime) -> float: ...


class CalendarClock:
    """Wall-clock time: every second counts."""

    def add(self, start: datetime, seconds: float) -> datetime:
        return start + timedelta(seconds=seconds)

    def elapsed(self, start: datetime, end: datetime) -> float:
        return max(0.0, (end - start).total_seconds())


@dataclass(frozen=True)
class BusinessClock:
    """Working time only: working hours on working days that are not public holidays, local time."""

    spec: CalendarSpec

    @property
    def day_seconds(self) -> float:
        opens, closes = self.spec.working_hours
        return (datetime.combine(date.min, closes) - datetime.combine(date.min, opens)).total_seconds()

    def is_working_day(self, day: date) -> bool:
        return day.isoweekday() in self.spec.working_days and day not in self.spec.holidays

    def close_after(self, received: datetime, days: int) -> datetime:
        """The close of business on the `days`th working day after the day of receipt (DISP 1.6,
        PSRs reg. 101). Received on a non-working day or after the close counts as received on the
        next working day."""
        zone = ZoneInfo(self.spec.timezone)
        closes = self.spec.working_hours[1]
        local = received.astimezone(zone)
        day = local.date()
        if not self.is_working_day(day) or local.time() >= closes:
            day = self._next_working_day(day)
        for _ in range(days):
            day = self._next_working_day(day)
        return datetime.combine(day, closes, zone).astimezone(UTC)

    def _next_working_day(self, day: date) -> date:
        for _ in range(MAX_DAYS_WALKED):
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ValueError("no working day within three years: check the calendar")

    def _windows(self, start: datetime) -> Iterable[tuple[datetime, datetime]]:
        """The working windows from the day of `start` on, in UTC."""
        zone = ZoneInfo(self.spec.timezone)
        day = start.astimezone(zone).date()
        for _ in range(MAX_DAYS_WALKED):
            if self.is_working_day(day):
                opens, closes = self.spec.working_hours
                yield (
                    datetime.combine(day, opens, zone).astimezone(UTC),
                    datetime.combine(day, closes, zone).astimezone(UTC),
                )
            day += timedelta(days=1)

    def add(self, start: datetime, seconds: float) -> datetime:
        remaining = seconds
        for opens, closes in self._windows(start):
            begin = max(opens, start)
            available = (closes - begin).total_seconds()
            if available <= 0:
                continue
            if remaining <= available:
                return begin + timedelta(seconds=remaining)
            remaining -= available
        raise ValueError("no working time within three years: check the calendar")

    def elapsed(self, start: datetime, end: datetime) -> float:
        total = 0.0
        for opens, closes in self._windows(start):
            if opens >= end:
                break
            total += max(0.0, (min(closes, end) - max(opens, start)).total_seconds())
        return total


@dataclass(frozen=True, slots=True)
class Pause:
    """The complaint waited on the customer from `started` until `ended` (None: still waiting)."""

    started: datetime
    ended: datetime | None


@dataclass(frozen=True, slots=True)
class DueTime:
    name: str
    profile: str
    due_at: datetime | None
    paused: bool
    met_at: datetime | None
    breach: bool
    kind: Kind = Kind.OPERATIONAL

    def missed(self, now: datetime) -> bool:
        """Past due and not met in time (only deadlines whose miss is a breach)."""
        if not self.breach or self.due_at is None:
            return False
        return (self.met_at or now) > self.due_at

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> DueTime:
        """The due time as `as_dict` stored it (JSON in the complaint's row)."""
        due, met = stored.get("due_at"), stored.get("met_at")
        return cls(
            name=stored["name"],
            profile=stored["profile"],
            due_at=datetime.fromisoformat(due) if due else None,
            paused=stored["paused"],
            met_at=datetime.fromisoformat(met) if met else None,
            breach=stored.get("breach", True),
            kind=Kind(stored.get("kind", Kind.OPERATIONAL)),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "profile": self.profile,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "paused": self.paused,
            "met_at": self.met_at.isoformat() if self.met_at else None,
            "breach": self.breach,
            "kind": self.kind.value,
        }


def clock_for(spec: DeadlineSpec, rules: DeadlineRules, calendar: str | None) -> tuple[Clock, float]:
    """The clock a deadline counts on, and its length (unextended) in that clock's seconds."""
    if spec.unit in CALENDAR_SECONDS:
        return CalendarClock(), spec.amount * CALENDAR_SECONDS[spec.unit]
    assert calendar is not None  # DeadlineRules.check guarantees a profile's calendar
    clock = BusinessClock(rules.calendars[calendar])
    per_unit = clock.day_seconds if spec.unit is Unit.BUSINESS_DAYS else 3600
    return clock, spec.amount * per_unit


def due_at(start: datetime, clock: Clock, length: float, pauses: Sequence[Pause]) -> datetime | None:
    """When `length` of running clock time has passed since `start`; None while paused."""
    cursor, remaining = start, length
    for pause in sorted(pauses, key=lambda p: p.started):
        if pause.started >= clock.add(cursor, remaining):
            break  # the deadline fell before this pause: it does not move it
        remaining -= clock.elapsed(cursor, max(cursor, pause.started))
        if pause.ended is None:
            return None
        cursor = max(cursor, pause.ended)
    return clock.add(cursor, remaining)


def met_at(target: Status, reached: Sequence[tuple[Status, datetime]]) -> datetime | None:
    """The first time the complaint reached `target` or a later status."""
    rank = PROGRESS.index(target)
    return next((at for status, at in reached if PROGRESS.index(status) >= rank), None)


def compute(
    rules: DeadlineRules,
    profile: str,
    filed_at: datetime,
    pauses: Sequence[Pause],
    reached: Sequence[tuple[Status, datetime]],
    *,
    calendar: str | None = None,
    letters: Sequence[tuple[Letter, datetime]] = (),
    reopens: Sequence[datetime] = (),
) -> list[DueTime]:
    """Every due time of `profile` for a complaint filed at `filed_at`, given its pauses, letters
    and reopens so far, counting business days on `calendar` (the profile's own when None).

    A reopened complaint keeps a running deadline: the profile's `reopened` one, from the latest
    reopen until the next resolution (an earlier resolution met the original deadlines for good)."""
    chosen = calendar or rules.profiles[profile].calendar
    first_letter: dict[Letter, datetime] = {}
    for letter, at in sorted(letters, key=lambda item: item[1]):
        first_letter.setdefault(letter, at)
    result = []
    for spec in rules.profiles[profile].deadlines:
        met = met_at(spec.met_by, reached)
        by_letter = first_letter.get(spec.met_by_letter) if spec.met_by_letter else None
        if by_letter is not None and (met is None or by_letter < met):
            met = by_letter
        extended = spec.extension and first_letter.get(spec.extension.after)
        if spec.extension and extended and (met is None or extended <= met):
            spec = spec.model_copy(update={"amount": spec.extension.amount})
        clock, length = clock_for(spec, rules, chosen)
        if spec.close_of_day:
            assert isinstance(clock, BusinessClock)  # DeadlineRules.check: business days only
            due: datetime | None = clock.close_after(filed_at, spec.amount)
        else:
            # A statutory clock never stops; a met deadline is frozen: later pauses no longer move it.
            relevant = [
                p for p in pauses if spec.kind is Kind.OPERATIONAL and (met is None or p.started < met)
            ]
            due = due_at(filed_at, clock, length, relevant)
        paused = due is None and met is None
        result.append(DueTime(spec.name, profile, due, paused, met, spec.breach, spec.kind))
    if reopens:
        result.append(_reopened(rules, profile, max(reopens), pauses, reached, chosen))
    return result


def _reopened(
    rules: DeadlineRules,
    profile: str,
    reopened_at: datetime,
    pauses: Sequence[Pause],
    reached: Sequence[tuple[Status, datetime]],
    calendar: str | None,
) -> DueTime:
    spec = rules.profiles[profile].reopened
    met = met_at(spec.met_by, [(status, at) for status, at in reached if at > reopened_at])
    since = [p for p in pauses if p.started >= reopened_at and (met is None or p.started < met)]
    clock, length = clock_for(spec, rules, calendar)
    due = due_at(reopened_at, clock, length, since)
    return DueTime(spec.name, profile, due, due is None and met is None, met, spec.breach, spec.kind)


def next_due(due_times: Sequence[DueTime]) -> datetime | None:
    """The earliest due time still running: what overdue and due-soon lists sort by."""
    running = [d.due_at for d in due_times if d.met_at is None and d.due_at is not None and d.breach]
    return min(running, default=None)


# The actions that end a wait on the customer: their answer, or the complaint resolved or reopened.
CLOCK_RESTARTS = frozenset(
    {"resume", "resolve", "reopen", Letter.FINAL_RESPONSE.value, Letter.SUMMARY_RESOLUTION.value}
)


def pauses_from(history: Sequence[tuple[str, datetime]]) -> list[Pause]:
    """Pauses from the audited (action, at) history: each pause until the next resume."""
    pauses: list[Pause] = []
    started: datetime | None = None
    for action, at in history:
        if action == "pause" and started is None:
            started = at
        elif action in CLOCK_RESTARTS and started is not None:
            # Resolving ends the wait too: the lifecycle stops the clock's pause there.
            pauses.append(Pause(started, at))
            started = None
    if started is not None:
        pauses.append(Pause(started, None))
    return pauses
