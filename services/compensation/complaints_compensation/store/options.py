"""The option sets the front line gives customers: stored once per complaint, closed once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import Row, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import OfferOption
from complaints_compensation.store.tables import option_sets

OptionStatus = Literal["open", "chosen", "proposed", "lapsed"]


@dataclass(frozen=True, slots=True)
class OptionSetRecord:
    """A row of `option_sets`: the options offered, in order, and what became of them."""

    complaint_id: UUID
    client_id: str
    customer_id: str
    options: tuple[OfferOption, ...]
    policy_version: str
    offered_at: datetime
    choose_by: datetime
    # The complaint's trace, continued when the options lapse.
    trace_context: dict[str, str]
    status: OptionStatus = "open"
    chosen_option: str | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    decision_id: UUID | None = None

    @classmethod
    def of(cls, row: Row[Any]) -> OptionSetRecord:
        values = dict(row._mapping)
        options = tuple(OfferOption.model_validate(o) for o in values.pop("options"))
        return cls(**values, options=options)

    def option(self, option_id: str) -> OfferOption | None:
        return next((o for o in self.options if o.option_id == option_id), None)


async def insert_option_set(session: AsyncConnection, offered: OptionSetRecord) -> bool:
    """Store a complaint's options; False when it has them already (a re-published event)."""
    statement = (
        insert(option_sets)
        .values(
            complaint_id=offered.complaint_id,
            client_id=offered.client_id,
            customer_id=offered.customer_id,
            options=[o.model_dump(mode="json") for o in offered.options],
            policy_version=offered.policy_version,
            offered_at=offered.offered_at,
            choose_by=offered.choose_by,
            trace_context=offered.trace_context,
        )
        .on_conflict_do_nothing(index_elements=[option_sets.c.complaint_id])
        .returning(option_sets.c.complaint_id)
    )
    return (await session.execute(statement)).first() is not None


async def option_set(
    session: AsyncConnection, client_id: str, complaint_id: UUID, *, for_update: bool = False
) -> OptionSetRecord | None:
    """The client's option set for the complaint; None alike for "absent" and "another client's"."""
    query = select(option_sets).where(
        option_sets.c.complaint_id == complaint_id, option_sets.c.client_id == client_id
    )
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return OptionSetRecord.of(row) if row else None


async def close(
    session: AsyncConnection,
    complaint_id: UUID,
    *,
    status: OptionStatus,
    chosen_option: str | None,
    closed_by: str,
    closed_at: datetime,
    decision_id: UUID | None,
) -> None:
    """Close an open set (chosen, proposed over, lapsed); a closed one stays as it was."""
    await session.execute(
        update(option_sets)
        .where(option_sets.c.complaint_id == complaint_id, option_sets.c.status == "open")
        .values(
            status=status,
            chosen_option=chosen_option,
            closed_by=closed_by,
            closed_at=closed_at,
            decision_id=decision_id,
        )
    )


async def lapsed(session: AsyncConnection, now: datetime, batch: int) -> list[OptionSetRecord]:
    """Open sets past their choose-by time, unlocked: the caller locks the customer first, then
    the set (the order a choice takes them in, so the two never deadlock)."""
    query = (
        select(option_sets)
        .where(option_sets.c.status == "open", option_sets.c.choose_by <= now)
        .order_by(option_sets.c.choose_by)
        .limit(batch)
    )
    return [OptionSetRecord.of(row) for row in await session.execute(query)]
