"""Due times, the way regulators count them: calendar or business time, paused while waiting on the
customer. Profiles and calendars are data (data/*.yaml); everything here is pure and testable.

The clock of a deadline runs from filing; each pause (waiting on the customer) stops it and each
resume restarts it, so the due time is recomputed from those events: the time still owed when a
pause began is added from the moment the customer answered.
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


CALENDAR_SECONDS = {
    Unit.SECONDS: 1,
    Unit.MINUTES: 60,
    Unit.HOURS: 3600,
    Unit.CALENDAR_DAYS: 86400,
    Unit.WEEKS: 7 * 86400,
}


class CalendarSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    timezone: str
    working_hours: tuple[time, time]
    working_days: frozenset[int] = Field(default=frozenset({1, 2, 3, 4, 5}))
    holidays: frozenset[date] = frozenset()


class DeadlineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=60)
    amount: int = Field(gt=0)
    unit: Unit
    met_by: Status
    calendar: str | None = None
    breach: bool = Field(default=True, description="False: missing it is no breach (e.g. a fast-track).")


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    deadlines: list[DeadlineSpec]


class DeadlineRules(BaseModel):
    """Every profile and calendar, and which profile a complaint gets."""

    model_config = ConfigDict(extra="forbid")

    default_profile: str
    profiles: dict[str, Profile]
    client_profiles: dict[str, str] = Field(default_factory=dict)
    category_profiles: dict[str, str] = Field(default_factory=dict)
    calendars: dict[str, CalendarSpec] = Field(default_factory=dict)

    def profile_for(self, client_id: str, category: str) -> str:
        by_category = {k.casefold(): v for k, v in self.category_profiles.items()}
        return (
            by_category.get(category.casefold())
            or self.client_profiles.get(client_id)
            or self.default_profile
        )

    def check(self) -> DeadlineRules:
        """Every name a profile or mapping refers to exists: a typo fails at start-up, not at filing."""
        names = {self.default_profile, *self.client_profiles.values(), *self.category_profiles.values()}
        missing = names - self.profiles.keys()
        calendars = {d.calendar for p in self.profiles.values() for d in p.deadlines if d.calendar}
        missing |= calendars - self.calendars.keys()
        business = [
            d
            for p in self.profiles.values()
            for d in p.deadlines
            if d.unit in (Unit.BUSINESS_DAYS, Unit.BUSINESS_HOURS) and not d.calendar
        ]
        if missing or business:
            raise ValueError(f"deadline rules refer to unknown names {sorted(missing)} or lack a calendar")
        return self


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

    def _windows(self, start: datetime) -> Iterable[tuple[datetime, datetime]]:
        """The working windows from the day of `start` on, in UTC."""
        zone = ZoneInfo(self.spec.timezone)
        day = start.astimezone(zone).date()
        for _ in range(MAX_DAYS_WALKED):
            if day.isoweekday() in self.spec.working_days and day not in self.spec.holidays:
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

    def missed(self, now: datetime) -> bool:
        """Past due and not met in time (only deadlines whose miss is a breach)."""
        if not self.breach or self.due_at is None:
            return False
        return (self.met_at or now) > self.due_at

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "profile": self.profile,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "paused": self.paused,
            "met_at": self.met_at.isoformat() if self.met_at else None,
            "breach": self.breach,
        }


def clock_for(spec: DeadlineSpec, rules: DeadlineRules) -> tuple[Clock, float]:
    """The clock a deadline counts on, and its length in that clock's seconds."""
    if spec.unit in CALENDAR_SECONDS:
        return CalendarClock(), spec.amount * CALENDAR_SECONDS[spec.unit]
    assert spec.calendar is not None  # DeadlineRules.check guarantees it
    clock = BusinessClock(rules.calendars[spec.calendar])
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
) -> list[DueTime]:
    """Every due time of `profile` for a complaint filed at `filed_at`, given its pauses so far."""
    result = []
    for spec in rules.profiles[profile].deadlines:
        met = met_at(spec.met_by, reached)
        # A met deadline is frozen: later pauses no longer move it.
        relevant = [p for p in pauses if met is None or p.started < met]
        clock, length = clock_for(spec, rules)
        due = due_at(filed_at, clock, length, relevant)
        result.append(DueTime(spec.name, profile, due, due is None and met is None, met, spec.breach))
    return result


def next_due(due_times: Sequence[DueTime]) -> datetime | None:
    """The earliest due time still running: what overdue and due-soon lists sort by."""
    running = [d.due_at for d in due_times if d.met_at is None and d.due_at is not None and d.breach]
    return min(running, default=None)


def pauses_from(history: Sequence[tuple[str, datetime]]) -> list[Pause]:
    """Pauses from the audited (action, at) history: each pause until the next resume."""
    pauses: list[Pause] = []
    started: datetime | None = None
    for action, at in history:
        if action == "pause" and started is None:
            started = at
        elif action in ("resume", "resolve", "reopen") and started is not None:
            # Resolving ends the wait too: the lifecycle stops the clock's pause there.
            pauses.append(Pause(started, at))
            started = None
    if started is not None:
        pauses.append(Pause(started, None))
    return pauses
