"""Reports: spend by category, rule, agent or month, and the share settled within frontline authority."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from complaints_compensation.dependencies import CompensationDependencies
from complaints_compensation.store import reports
from complaints_compensation.store.reports import SpendTotal

GroupBy = Literal["category", "rule", "agent", "month"]


@dataclass(frozen=True, slots=True)
class Spend:
    lines: list[SpendTotal]
    decided: int  # automatic decisions in the period
    settled_within_frontline: int
    frontline_share: Decimal | None


async def spend(
    deps: CompensationDependencies,
    client_id: str,
    group_by: GroupBy,
    since: datetime | None,
    until: datetime | None,
) -> Spend:
    async with deps.runtime.db.transaction() as session:
        lines = await reports.spend(session, client_id, group_by, since, until)
        decided, frontline = await reports.frontline(session, client_id, since, until)
    share = (Decimal(frontline) / decided).quantize(Decimal("0.0001")) if decided else None
    return Spend(lines, decided, frontline, share)
