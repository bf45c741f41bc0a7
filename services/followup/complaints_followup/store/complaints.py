"""What follow-up knows of each complaint, folded from the events it consumes.

Events about one complaint arrive on several topics with no order between them, so each fact is
kept with the time it was true, and an older fact never overwrites a newer one. Any event may be the
first about a complaint: `remember` makes its row, and the `record_*` functions update that row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.db import driver
from complaints_common.events.contracts import ERASED, Deadline
from complaints_followup.store.tables import SCHEMA, complaints, followups


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
_DEADLINES = _COLUMNS.index("deadlines")  # its values go as JSON text


def _fold_sql() -> str:
    """Every consumed event records its facts and reads the complaint back in this one statement
    (it was four: the row made, the status, the due times, the read; `make profile`), sent straight
    to the driver: every handled event runs it. SET expressions see the stored row as it was, so
    their order is free."""
    inserted = ("complaint_id", *_COLUMNS)
    updates = [f"{column} = coalesce(excluded.{column}, stored.{column})" for column in _PLAIN]
    for column, as_of in _DATED.items():
        newer = f"excluded.{as_of} IS NOT NULL AND "
        newer += f"(stored.{as_of} IS NULL OR stored.{as_of} <= excluded.{as_of})"
        for name in (column, as_of):
            updates.append(f"{name} = CASE WHEN {newer} THEN excluded.{name} ELSE stored.{name} END")
    # GREATEST ignores NULLs: a decision's times only move forward.
    updates += [f"{column} = greatest(stored.{column}, excluded.{column})" for column in _FORWARD]
    return (
        f'INSERT INTO "{SCHEMA}".complaints AS stored ({", ".join(inserted)}) '  # noqa: S608
        f"VALUES ({', '.join(f'${n}' for n in range(1, len(inserted) + 1))}) "
        f"ON CONFLICT (complaint_id) DO UPDATE SET {', '.join(updates)} "
        f"RETURNING {', '.join(column.name for column in complaints.c)}"
    )


_FOLD = _fold_sql()


async def fold(session: AsyncConnection, complaint_id: UUID, facts: Facts) -> KnownComplaint:
    """Record what an event says of the complaint (any event may be the first: the row is made) and
    return what is known of it now."""
    values = [getattr(facts, column) for column in _COLUMNS]
    values[_DEADLINES] = json.dumps([deadline.model_dump(mode="json") for deadline in facts.deadlines])
    record = await (await driver(session)).fetchrow(_FOLD, complaint_id, *values)
    return _known(record)


_COMPLAINT = select(complaints).where(complaints.c.complaint_id == bindparam("cid"))


def _known(row: Row[Any] | Mapping[str, Any]) -> KnownComplaint:
    """A stored row, as SQLAlchemy returns it or as the driver does (the fold), as what is known."""
    values = row._mapping if isinstance(row, Row) else row
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


async def forget_free_text(session: AsyncConnection, complaint_id: UUID) -> None:
    """Erasure: the agent's notes and the customer's comments; outcomes, scores and times stay."""
    for column in (followups.c.note, followups.c.comment):
        await session.execute(
            update(followups)
            .where(followups.c.complaint_id == complaint_id, column.is_not(None))
            .values({column.name: ERASED})
        )
