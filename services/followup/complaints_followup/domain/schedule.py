"""When follow-ups fall due: pure rules, no I/O. `now` is always passed in, so tests own the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum

Clock = Callable[[], datetime]

MAX_SATISFACTION_DELAY = timedelta(days=7)


class FollowupStatus(StrEnum):
    SCHEDULED = "scheduled"
    FIRED = "fired"
    CANCELLED = "cancelled"


def system_clock() -> datetime:
    return datetime.now(UTC)


def satisfaction_check_due(settled_at: datetime, delay: timedelta) -> datetime:
    """The satisfaction call-back: `delay` after the complaint was settled, never over a week."""
    return settled_at + min(delay, MAX_SATISFACTION_DELAY)
