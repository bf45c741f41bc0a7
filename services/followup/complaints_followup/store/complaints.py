"""What follow-up knows of each complaint, folded from the events it consumes.

Events about one complaint arrive on several topics with no order between them, so each fact is
kept with the time it was true, and an older fact never overwrites a newer one. Any event may be the
first about a complaint: `remember` makes its row, and the `record_*` functions update that row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import ERASED, Deadline
from complaints_followup.domain.schedule import decision_pending
from complaints_followup.store.tables import complaints, followups


@dataclass(frozen=True, slots=True)
class KnownComplaint:
    """What follow-up knows of a complaint: any event may have been the first, so most is optional."""

    complaint_id: UUID
    client_id: str | None
    customer_id: str | None
    filed_at: datetime | None
    category: str | None
    agent_id: str | None
    status: str | None
    status_as_of: datetime | None
    remedy: str | None
    decision_pending_since: datetime | None
    decision_settled_at: datetime | None
    deadlines: list[Deadline]  # the newest set of due times
    deadlines_as_of: datetime | None


async def remember(
    session: AsyncConnection,
    complaint_id: UUID,
    *,
    client_id: str | None = None,
    customer_id: str | None = None,
    filed_at: datetime | None = None,
    category: str | None = None,
    agent_id: str | None = None,
    remedy: str | None = None,
) -> None:
    """Record plain facts (customer, category, agent, remedy); later events may fill in more."""
    facts = {
        "client_id": client_id,
        "customer_id": customer_id,
        "filed_at": filed_at,
        "category": category,
        "agent_id": agent_id,
        "remedy": remedy,
    }
    values = {key: value for key, value in facts.items() if value is not None}
    statement = insert(complaints).values(complaint_id=complaint_id, **values)
    if values:
        statement = statement.on_conflict_do_update(
            index_elements=[complaints.c.complaint_id],
            set_={key: statement.excluded[key] for key in values},
        )
    else:
        statement = statement.on_conflict_do_nothing()
    await session.execute(statement)


# Run for every event: built once, the values passed per execution (`make profile`).
_RECORD_STATUS = complaints.update().where(
    complaints.c.complaint_id == bindparam("cid"),
    or_(complaints.c.status_as_of.is_(None), complaints.c.status_as_of <= bindparam("as_of")),
)
_RECORD_DEADLINES = complaints.update().where(
    complaints.c.complaint_id == bindparam("cid"),
    or_(complaints.c.deadlines_as_of.is_(None), complaints.c.deadlines_as_of <= bindparam("as_of")),
)
_COMPLAINT = select(complaints).where(complaints.c.complaint_id == bindparam("cid"))


async def record_status(session: AsyncConnection, complaint_id: UUID, status: str, as_of: datetime) -> None:
    await session.execute(
        _RECORD_STATUS, {"cid": complaint_id, "as_of": as_of, "status": status, "status_as_of": as_of}
    )


async def record_decision(
    session: AsyncConnection, complaint_id: UUID, *, pending: bool, at: datetime
) -> None:
    """A decision is pending from `pending_since` until a later settled decision."""
    column = complaints.c.decision_pending_since if pending else complaints.c.decision_settled_at
    await session.execute(
        complaints.update()
        .where(complaints.c.complaint_id == complaint_id)
        .values({column: func.greatest(func.coalesce(column, at), at)})
    )


async def record_deadlines(
    session: AsyncConnection, complaint_id: UUID, deadlines: list[Deadline], as_of: datetime
) -> None:
    """Keep the newest set of due times (a set computed earlier than the stored one is ignored)."""
    await session.execute(
        _RECORD_DEADLINES,
        {
            "cid": complaint_id,
            "deadlines": [d.model_dump(mode="json") for d in deadlines],
            "deadlines_as_of": as_of,
            "as_of": as_of,
        },
    )


async def complaint(
    session: AsyncConnection, complaint_id: UUID, client_id: str | None = None
) -> KnownComplaint | None:
    """What is known of the complaint; with `client_id`, only if it is that client's."""
    row = (await session.execute(_COMPLAINT, {"cid": complaint_id})).first()
    if row is None or (client_id is not None and row.client_id != client_id):
        return None
    values = row._mapping
    deadlines = [Deadline.model_validate(item) for item in values["deadlines"]]
    return KnownComplaint(**{**values, "deadlines": deadlines})


async def with_pending_decisions(session: AsyncConnection, complaint_ids: Iterable[UUID]) -> set[UUID]:
    """Which of these complaints wait for a compensation decision."""
    ids = list(set(complaint_ids))
    if not ids:
        return set()
    rows = await session.execute(
        select(
            complaints.c.complaint_id,
            complaints.c.decision_pending_since,
            complaints.c.decision_settled_at,
        ).where(complaints.c.complaint_id.in_(ids), complaints.c.decision_pending_since.is_not(None))
    )
    return {
        row.complaint_id
        for row in rows
        if decision_pending(row.decision_pending_since, row.decision_settled_at)
    }


async def forget_free_text(session: AsyncConnection, complaint_id: UUID) -> None:
    """Erasure: the agent's notes and the customer's comments; outcomes, scores and times stay."""
    for column in (followups.c.note, followups.c.comment):
        await session.execute(
            update(followups)
            .where(followups.c.complaint_id == complaint_id, column.is_not(None))
            .values({column.name: ERASED})
        )
