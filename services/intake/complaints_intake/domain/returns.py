"""The complaints return a regulator asks for (FCA DISP 1.10, the CFPB's company portal figures):
complaints opened, closed and outstanding by product group and root cause, the share closed within
three business days and within the statutory deadline, the upheld share (partly upheld counts as
upheld) and the redress paid, goodwill included. Pure: computed from one record per complaint as
its audited history says it stood, so any past period gives the same figures every time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

UPHELD = frozenset({"upheld", "partly_upheld"})


@dataclass(frozen=True, slots=True)
class ReturnRecord:
    """One complaint of the regime, as its history stood at the end of the period."""

    product_group: str
    root_cause: str | None
    filed_at: datetime
    closed_at: datetime | None = None
    open_at_end: bool = True
    outcome: str | None = None
    three_days_until: datetime | None = None
    statutory_until: datetime | None = None
    redress: tuple[str, Decimal] | None = None  # (currency, amount) of the final response


@dataclass(frozen=True, slots=True)
class Goodwill:
    """Compensation granted (from compensation.granted) to a complaint of the regime."""

    currency: str
    amount: Decimal
    granted_at: datetime


@dataclass
class Figures:
    opened: int = 0
    closed: int = 0
    outstanding: int = 0
    closed_within_3_business_days: int = 0
    closed_within_statutory_deadline: int = 0
    upheld: int = 0

    def share(self, part: int) -> float | None:
        return round(part / self.closed, 4) if self.closed else None

    def add(self, record: ReturnRecord, start: datetime, end: datetime) -> None:
        if start <= record.filed_at < end:
            self.opened += 1
        if record.open_at_end and record.filed_at < end:
            self.outstanding += 1
        closed = record.closed_at
        if closed is None or not start <= closed < end:
            return
        self.closed += 1
        self.closed_within_3_business_days += bool(
            record.three_days_until and closed <= record.three_days_until
        )
        self.closed_within_statutory_deadline += bool(
            record.statutory_until and closed <= record.statutory_until
        )
        self.upheld += record.outcome in UPHELD


@dataclass
class Redress:
    redress: Decimal = Decimal("0.00")
    goodwill: Decimal = Decimal("0.00")

    @property
    def total(self) -> Decimal:
        return self.redress + self.goodwill


@dataclass
class ComplaintsReturn:
    totals: Figures = field(default_factory=Figures)
    groups: dict[tuple[str, str | None], Figures] = field(default_factory=dict)
    redress: dict[str, Redress] = field(default_factory=dict)


def complaints_return(
    records: Iterable[ReturnRecord], goodwill: Sequence[Goodwill], start: datetime, end: datetime
) -> ComplaintsReturn:
    """The return for [start, end): redress of the final responses closed in it, goodwill granted in it."""
    result = ComplaintsReturn()
    redress: dict[str, Redress] = defaultdict(Redress)
    for record in records:
        figures = result.groups.setdefault((record.product_group, record.root_cause), Figures())
        figures.add(record, start, end)
        result.totals.add(record, start, end)
        closed_in_period = record.closed_at is not None and start <= record.closed_at < end
        if record.redress and closed_in_period:
            redress[record.redress[0]].redress += record.redress[1]
    for grant in goodwill:
        if start <= grant.granted_at < end:
            redress[grant.currency].goodwill += grant.amount
    result.groups = {k: v for k, v in sorted(result.groups.items(), key=_group_order) if _any(v)}
    result.redress = dict(sorted(redress.items()))
    return result


def _group_order(item: tuple[tuple[str, str | None], Figures]) -> tuple[str, str]:
    (group, cause), _ = item
    return group, cause or ""


def _any(figures: Figures) -> bool:
    return bool(figures.opened or figures.closed or figures.outstanding)
