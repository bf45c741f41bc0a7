"""Repeat and duplicate detection, and the repeated-extreme flag, as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from complaints_intake.domain.repeats import CustomerFlag, Earlier, RepeatKind, classify, customer_flags

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def earlier(category: str, product: str | None, ago: timedelta) -> Earlier:
    return Earlier(uuid4(), category, product, NOW - ago)


def test_the_same_matter_soon_after_is_a_duplicate_of_the_latest() -> None:
    older = earlier("billing", "Fibre 500", timedelta(hours=30))
    latest = earlier("Billing", "fibre 500", timedelta(hours=2))
    link = classify("billing", "Fibre 500", NOW, [older, latest])
    assert link is not None and link.kind is RepeatKind.DUPLICATE and link.repeat_of == latest.id


def test_the_same_category_later_is_a_repeat() -> None:
    first = earlier("billing", "Fibre 500", timedelta(days=10))
    link = classify("billing", "Mobile XL", NOW, [first])
    assert link is not None and link.kind is RepeatKind.REPEAT and link.repeat_of == first.id


def test_the_same_product_in_another_category_is_a_repeat() -> None:
    first = earlier("delivery", "Fibre 500", timedelta(days=1))
    link = classify("billing", "Fibre 500", NOW, [first])
    assert link is not None and link.kind is RepeatKind.REPEAT


def test_unrelated_or_old_complaints_are_not_linked() -> None:
    assert classify("billing", "Fibre 500", NOW, [earlier("delivery", "Router", timedelta(hours=1))]) is None
    assert (
        classify("billing", "Fibre 500", NOW, [earlier("billing", "Fibre 500", timedelta(days=31))]) is None
    )
    assert classify("billing", None, NOW, []) is None


def test_repeated_critical_complaints_flag_the_customer() -> None:
    three = [("critical", NOW - timedelta(days=d)) for d in (1, 20, 60)]
    assert customer_flags(three, NOW) == [CustomerFlag.REPEATED_EXTREME]
    assert customer_flags([*three[:2], ("high", NOW)], NOW) == []
    assert customer_flags([*three[:2], ("critical", NOW - timedelta(days=200))], NOW) == []
