"""The option sets the front line gives customers: stored once per complaint, closed once."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_compensation.store.tables import option_sets


async def insert_option_set(session: AsyncConnection, row: dict[str, Any]) -> bool:
    """Store a complaint's options; False when it has them already (a re-published event)."""
    statement = (
        insert(option_sets)
        .values(**row)
        .on_conflict_do_nothing(index_elements=[option_sets.c.complaint_id])
        .returning(option_sets.c.complaint_id)
    )
    return (await session.execute(statement)).first() is not None


async def option_set(
    session: AsyncConnection, client_id: str, complaint_id: UUID, *, for_update: bool = False
) -> dict[str, Any] | None:
    """The client's option set for the complaint; None alike for "absent" and "another client's"."""
    query = select(option_sets).where(
        option_sets.c.complaint_id == complaint_id, option_sets.c.client_id == client_id
    )
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row else None


async def close(session: AsyncConnection, complaint_id: UUID, **values: Any) -> None:
    """Close an open set (chosen, proposed over, lapsed); a closed one stays as it was."""
    await session.execute(
        update(option_sets)
        .where(option_sets.c.complaint_id == complaint_id, option_sets.c.status == "open")
        .values(**values)
    )


async def lapsed(session: AsyncConnection, now: datetime, batch: int) -> list[dict[str, Any]]:
    """Open sets past their choose-by time, unlocked: the caller locks the customer first, then
    the set (the order a choice takes them in, so the two never deadlock)."""
    query = (
        select(option_sets)
        .where(option_sets.c.status == "open", option_sets.c.choose_by <= now)
        .order_by(option_sets.c.choose_by)
        .limit(batch)
    )
    return [dict(row._mapping) for row in await session.execute(query)]
