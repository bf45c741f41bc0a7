"""What the complaints return is computed from: one record per complaint of the regime's profiles,
as its audited history stood at the end of the period, and the goodwill granted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_intake.domain.complaint import Status
from complaints_intake.domain.deadlines import BusinessClock, Kind, shipped_rules
from complaints_intake.domain.returns import Goodwill, ReturnRecord
from complaints_intake.store.tables import complaint_history, complaints, granted_compensation

CLOSING = [Status.RESOLVED.value, Status.CLOSED.value]
OPEN = [Status.RECEIVED.value, Status.ACKNOWLEDGED.value, Status.IN_PROGRESS.value]
THREE_BUSINESS_DAYS = 3


async def return_inputs(
    session: AsyncConnection, client_id: str, profiles: list[str], start: datetime, end: datetime
) -> tuple[list[ReturnRecord], list[Goodwill]]:
    c, h = complaints, complaint_history
    first_closed = (
        select(func.min(h.c.at))
        .where(h.c.complaint_id == c.c.id, h.c.to_status.in_(CLOSING))
        .scalar_subquery()
    )
    status_at_end = (
        select(h.c.to_status)
        .where(h.c.complaint_id == c.c.id, h.c.at < end, h.c.to_status.is_not(None))
        .order_by(h.c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    mine = (c.c.client_id == client_id, c.c.deadline_profile.in_(profiles))
    rows = await session.execute(
        select(
            c.c.category,
            c.c.root_cause,
            c.c.filed_at,
            c.c.outcome,
            c.c.redress_amount,
            c.c.redress_currency,
            c.c.deadlines,
            c.c.calendar,
            c.c.deadline_profile,
            first_closed.label("closed_at"),
            status_at_end.label("status_at_end"),
        ).where(
            *mine,
            c.c.filed_at < end,
            or_(first_closed.is_(None), first_closed >= start, status_at_end.in_(OPEN)),
        )
    )
    records = [_record(r) for r in rows]
    grants = await session.execute(
        select(
            granted_compensation.c.currency, granted_compensation.c.amount, granted_compensation.c.granted_at
        )
        .join(c, c.c.id == granted_compensation.c.complaint_id)
        .where(*mine, granted_compensation.c.granted_at >= start, granted_compensation.c.granted_at < end)
    )
    return records, [Goodwill(g.currency, g.amount, g.granted_at) for g in grants]


def _record(row: Row[*tuple[Any, ...]]) -> ReturnRecord:
    rules = shipped_rules()
    calendar = row.calendar or rules.profiles[row.deadline_profile].calendar
    three_days = (
        BusinessClock(rules.calendars[calendar]).close_after(row.filed_at, THREE_BUSINESS_DAYS)
        if calendar in rules.calendars
        else None
    )
    statutory = next(
        (
            datetime.fromisoformat(d["due_at"])
            for d in row.deadlines
            if d["name"] == "final_response" and d.get("kind") == Kind.STATUTORY and d.get("due_at")
        ),
        None,
    )
    redress = row.redress_amount
    return ReturnRecord(
        product_group=row.category,
        root_cause=row.root_cause,
        filed_at=row.filed_at,
        closed_at=row.closed_at,
        open_at_end=row.status_at_end in OPEN,
        outcome=row.outcome,
        three_days_until=three_days,
        statutory_until=statutory,
        redress=(row.redress_currency, redress) if redress is not None and row.redress_currency else None,
    )
