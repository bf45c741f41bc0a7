"""Repeat and duplicate complaints, and customers whose extreme complaints keep coming back.

A *duplicate* is the same matter filed again soon (same category and product, within a short
window): nobody should pay twice. A *repeat* is the same customer back about the same category or
product within a longer window: nobody should make them tell it all again. Pure rules, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID


class RepeatKind(StrEnum):
    DUPLICATE = "duplicate"
    REPEAT = "repeat"


class CustomerFlag(StrEnum):
    REPEATED_EXTREME = "repeated_extreme"
    # An agent flagged abusive conduct towards staff on one of the customer's complaints.
    ABUSIVE_CONDUCT = "abusive_conduct"


@dataclass(frozen=True, slots=True)
class RepeatPolicy:
    duplicate_window: timedelta = timedelta(hours=48)
    repeat_window: timedelta = timedelta(days=30)
    # "Extreme": the customer rated it critical. This many within the window flags the customer, so
    # a supervisor looks at them rather than the compensation rules rewarding the pattern.
    extreme_severities: frozenset[str] = frozenset({"critical"})
    extreme_threshold: int = 3
    extreme_window: timedelta = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class Earlier:
    """An earlier complaint of the same customer, as far as repeat detection needs it."""

    id: UUID
    category: str
    product: str | None
    filed_at: datetime


@dataclass(frozen=True, slots=True)
class RepeatLink:
    repeat_of: UUID
    kind: RepeatKind


def classify(
    category: str,
    product: str | None,
    filed_at: datetime,
    earlier: list[Earlier],
    policy: RepeatPolicy = RepeatPolicy(),
) -> RepeatLink | None:
    """Link a new complaint to the most recent earlier one it duplicates, else that it repeats."""
    recent_first = sorted(earlier, key=lambda e: e.filed_at, reverse=True)
    for e in recent_first:
        age = filed_at - e.filed_at
        if (
            _same(e.category, category)
            and _same_product(e.product, product)
            and age <= policy.duplicate_window
        ):
            return RepeatLink(e.id, RepeatKind.DUPLICATE)
    for e in recent_first:
        if filed_at - e.filed_at <= policy.repeat_window and (
            _same(e.category, category) or _same(e.product, product)
        ):
            return RepeatLink(e.id, RepeatKind.REPEAT)
    return None


def customer_flags(
    severities_and_times: list[tuple[str, datetime]], now: datetime, policy: RepeatPolicy = RepeatPolicy()
) -> list[CustomerFlag]:
    extreme = [
        at
        for severity, at in severities_and_times
        if severity in policy.extreme_severities and now - at <= policy.extreme_window
    ]
    return [CustomerFlag.REPEATED_EXTREME] if len(extreme) >= policy.extreme_threshold else []


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().casefold() == b.strip().casefold()


def _same_product(a: str | None, b: str | None) -> bool:
    """Two complaints without a product are about the same (unnamed) product."""
    return (a is None and b is None) or _same(a, b)
