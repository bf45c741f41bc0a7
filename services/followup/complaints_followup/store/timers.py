"""Durable timers: scheduling, and firing each due timer exactly once across replicas.

Firing claims due rows with FOR UPDATE SKIP LOCKED, marks them fired and writes their events to the
outbox in one transaction: two replicas never claim the same row, and a crash before the commit
leaves the row scheduled for the next poll.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from opentelemetry import propagate
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from complaints_followup.domain.schedule import FollowupStatus
from complaints_followup.store.tables import complaints, followups


async def remember_complaint(
    session: AsyncSession, complaint_id: UUID, customer_id: str, filed_at: datetime
) -> None:
    await session.execute(
        insert(complaints)
        .values(complaint_id=complaint_id, customer_id=customer_id, filed_at=filed_at)
        .on_conflict_do_nothing()
    )


async def schedule(
    session: AsyncSession,
    *,
    complaint_id: UUID,
    customer_id: str,
    kind: str,
    due_at: datetime,
    attempt: int = 1,
) -> bool:
    """Schedule a timer; False if this complaint already has one of this kind and attempt."""
    statement = (
        insert(followups)
        .values(
            id=uuid4(),
            complaint_id=complaint_id,
            customer_id=customer_id,
            kind=kind,
            attempt=attempt,
            due_at=due_at,
            status=FollowupStatus.SCHEDULED,
            trace_context=_current_trace_context(),
        )
        .on_conflict_do_nothing()
        .returning(followups.c.id)
    )
    return (await session.execute(statement)).first() is not None


def _current_trace_context() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Lock and mark fired the oldest due timers that no other replica holds."""
    due = (
        select(followups.c.id)
        .where(followups.c.status == FollowupStatus.SCHEDULED, followups.c.due_at <= now)
        .order_by(followups.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    statement = (
        update(followups)
        .where(followups.c.id.in_(select(due.c.id)))
        .values(status=FollowupStatus.FIRED, fired_at=now)
        .returning(*followups.c)
    )
    rows = [dict(row._mapping) for row in await session.execute(statement)]
    return sorted(rows, key=lambda row: row["due_at"])


async def followups_for(session: AsyncSession, complaint_id: UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(followups).where(followups.c.complaint_id == complaint_id).order_by(followups.c.due_at)
    )
    return [dict(row._mapping) for row in rows]
