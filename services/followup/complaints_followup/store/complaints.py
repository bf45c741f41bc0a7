"""What follow-up knows of each complaint, folded from the events it consumes.

Events about one complaint arrive on several topics with no order between them, so each fact is
kept with the time it was true, and an older fact never overwrites a newer one. Any event may be the
first about a complaint: `remember` makes its row, and the `record_*` functions update that row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Row, bindparam, case, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ReturningInsert

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


@dataclass(frozen=True, slots=True)
class Facts:
    """What one event says of a complaint. Plain facts (customer, category, agent, remedy) fill in
    or replace what is known; a status or a set of due times counts only if it is not older than the
    stored one; a decision's times only move forward."""

    client_id: str | None = None
    customer_id: str | None = None
    filed_at: datetime | None = None
    category: str | None = None
    agent_id: str | None = None
    remedy: str | None = None
    status: str | None = None
    status_as_of: datetime | None = None
    deadlines: Sequence[Deadline] = ()
    deadlines_as_of: datetime | None = None
    decision_pending_since: datetime | None = None
    decision_settled_at: datetime | None = None


_PLAIN = ("client_id", "customer_id", "filed_at", "category", "agent_id", "remedy")
_DATED = {"status": "status_as_of", "deadlines": "deadlines_as_of"}
_FORWARD = ("decision_pending_since", "decision_settled_at")
_COLUMNS = (*_PLAIN, *_DATED, *_DATED.values(), *_FORWARD)


def _fold_statement() -> ReturningInsert[Any]:
    """Every consumed event records its facts and reads the complaint back in this one statement
    (it was four: the row made, the status, the due times, the read; `make profile`). Built once,
    the values bound per event. SET expressions see the stored row as it was, so their order is free."""
    new = insert(complaints).values({column: bindparam(column) for column in ("complaint_id", *_COLUMNS)})
    stored, event = complaints.c, new.excluded
    updates: dict[str, ColumnElement[Any]] = {
        column: func.coalesce(event[column], stored[column]) for column in _PLAIN
    }
    for column, as_of in _DATED.items():
        newer = event[as_of].is_not(None) & (stored[as_of].is_(None) | (stored[as_of] <= event[as_of]))
        updates[column] = case((newer, event[column]), else_=stored[column])
        updates[as_of] = case((newer, event[as_of]), else_=stored[as_of])
    for column in _FORWARD:  # GREATEST ignores NULLs: a decision's times only move forward
        updates[column] = func.greatest(stored[column], event[column])
    return new.on_conflict_do_update(index_elements=[stored.complaint_id], set_=updates).returning(
        *complaints.c
    )


_FOLD = _fold_statement()


async def fold(session: AsyncConnection, complaint_id: UUID, facts: Facts) -> KnownComplaint:
    """Record what an event says of the complaint (any event may be the first: the row is made) and
    return what is known of it now."""
    values = {column: getattr(facts, column) for column in _COLUMNS}
    values["deadlines"] = [deadline.model_dump(mode="json") for deadline in facts.deadlines]
    row = (await session.execute(_FOLD, {"complaint_id": complaint_id, **values})).one()
    return _known(row)


_COMPLAINT = select(complaints).where(complaints.c.complaint_id == bindparam("cid"))


def _known(row: Row[Any]) -> KnownComplaint:
    values = row._mapping
    deadlines = [Deadline.model_validate(item) for item in values["deadlines"]]
    return KnownComplaint(**{**values, "deadlines": deadlines})


async def complaint(
    session: AsyncConnection, complaint_id: UUID, client_id: str | None = None
) -> KnownComplaint | None:
    """What is known of the complaint; with `client_id`, only if it is that client's."""
    row = (await session.execute(_COMPLAINT, {"cid": complaint_id})).first()
    if row is None or (client_id is not None and row.client_id != client_id):
        return None
    return _known(row)


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
