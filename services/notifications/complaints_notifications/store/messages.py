"""Recording recipients and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from complaints_notifications.store.tables import messages, recipients


async def save_recipient(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(recipients).values(**values).on_conflict_do_nothing())


async def recipient_of(session: AsyncSession, complaint_id: UUID) -> dict[str, Any] | None:
    row = (await session.execute(select(recipients).where(recipients.c.complaint_id == complaint_id))).first()
    return dict(row._mapping) if row else None


async def queue_message(
    session: AsyncSession, *, event_id: str, complaint_id: UUID, kind: str, data: dict[str, Any]
) -> UUID | None:
    """Record that `kind` must be said for this event; None if it was already recorded."""
    statement = (
        insert(messages)
        .values(
            id=uuid4(),
            event_id=event_id,
            complaint_id=complaint_id,
            kind=kind,
            channel="pending",
            data=data,
            status="awaiting_recipient",
        )
        .on_conflict_do_nothing()
        .returning(messages.c.id)
    )
    row = (await session.execute(statement)).first()
    return row[0] if row else None


async def awaiting(session: AsyncSession, complaint_id: UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(messages)
        .where(messages.c.complaint_id == complaint_id, messages.c.status == "awaiting_recipient")
        .order_by(messages.c.created_at)
        .with_for_update()
    )
    return [dict(row._mapping) for row in rows]


async def mark_sent(
    session: AsyncSession, message_id: UUID, values: dict[str, Any], sent_at: datetime
) -> None:
    await session.execute(
        update(messages).where(messages.c.id == message_id).values(**values, status="sent", sent_at=sent_at)
    )


async def messages_for(session: AsyncSession, complaint_id: UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(messages).where(messages.c.complaint_id == complaint_id).order_by(messages.c.created_at)
    )
    return [dict(row._mapping) for row in rows]
