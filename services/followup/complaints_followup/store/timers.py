"""Durable timers: scheduling, cancelling, and firing each due timer exactly once across replicas.

Firing claims due rows with FOR UPDATE SKIP LOCKED, marks them fired and writes their events to the
outbox in one transaction: two replicas never claim the same row, and a crash before the commit
leaves the row scheduled for the next poll. Cancelling only touches rows still `scheduled`; a
replica firing the row holds its lock, so the cancel waits, re-reads `fired` and does nothing:
a timer is either fired or cancelled, never both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID, uuid4

from sqlalchemy import Row, bindparam, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.telemetry import current_trace_context
from complaints_followup.domain.schedule import (
    DEADLINE_KINDS,
    CancelReason,
    DeadlineTimer,
    FollowupKind,
    FollowupStatus,
)
from complaints_followup.store.tables import followups


@dataclass(frozen=True, slots=True)
class Followup:
    """A timer and what became of it: one row of `followups`."""

    id: UUID
    client_id: str
    complaint_id: UUID
    customer_id: str
    kind: FollowupKind
    reason_key: str
    attempt: int
    due_at: datetime
    status: FollowupStatus
    fired_at: datetime | None
    deadline_name: str | None
    team: str | None
    agent_id: str | None
    cancel_reason: str | None
    note: str | None
    outcome: str | None
    reached: bool | None
    satisfied: bool | None
    csat: int | None
    nps: int | None
    comment: str | None
    recorded_by: str | None
    recorded_at: datetime | None
    category: str | None
    remedy: str | None
    trace_context: dict[str, str]
    created_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> Followup:
        values = row._mapping
        return cls(
            **{**values, "kind": FollowupKind(values["kind"]), "status": FollowupStatus(values["status"])}
        )


@dataclass(frozen=True, slots=True)
class KindCount:
    """How many timers of a kind wait to fall due, and how many of those are already past due."""

    kind: FollowupKind
    scheduled: int
    overdue: int


# Built once, the values passed per execution: building `.values(...)` anew for each timer cost
# more CPU than running the statement (docs/benchmarks/limits.md). A timer already there is kept.
_SCHEDULE_IF_NEW = insert(followups).on_conflict_do_nothing()
_SCHEDULE_IF_NEW_RETURNING = _SCHEDULE_IF_NEW.returning(*followups.c)


class _NewTimer(TypedDict):
    """The parameters of one scheduled timer's insert (the statement is built once)."""

    id: UUID
    client_id: str
    complaint_id: UUID
    customer_id: str
    kind: FollowupKind
    attempt: int
    reason_key: str
    due_at: datetime
    status: FollowupStatus
    trace_context: dict[str, str]
    deadline_name: str | None
    team: str | None
    agent_id: str | None
    note: str | None


def _timer(
    *,
    client_id: str,
    complaint_id: UUID,
    customer_id: str,
    kind: FollowupKind,
    due_at: datetime,
    trace_context: dict[str, str],
    attempt: int = 1,
    reason_key: str = "",
    deadline_name: str | None = None,
    team: str | None = None,
    agent_id: str | None = None,
    note: str | None = None,
) -> _NewTimer:
    """A scheduled timer's row; `trace_context` is the scheduling trace, which its firing continues."""
    return _NewTimer(
        id=uuid4(),
        client_id=client_id,
        complaint_id=complaint_id,
        customer_id=customer_id,
        kind=kind,
        attempt=attempt,
        reason_key=reason_key,
        due_at=due_at,
        status=FollowupStatus.SCHEDULED,
        trace_context=trace_context,
        deadline_name=deadline_name,
        team=team,
        agent_id=agent_id,
        note=note,
    )


async def schedule(
    session: AsyncConnection,
    *,
    client_id: str,
    complaint_id: UUID,
    customer_id: str,
    kind: FollowupKind,
    due_at: datetime,
    attempt: int = 1,
    reason_key: str = "",
    team: str | None = None,
    agent_id: str | None = None,
    note: str | None = None,
) -> Followup | None:
    """Schedule a timer and return its row; None if this complaint already has one of this kind,
    reason and attempt."""
    timer = _timer(
        client_id=client_id,
        complaint_id=complaint_id,
        customer_id=customer_id,
        kind=kind,
        due_at=due_at,
        trace_context=current_trace_context(),
        attempt=attempt,
        reason_key=reason_key,
        team=team,
        agent_id=agent_id,
        note=note,
    )
    row = (await session.execute(_SCHEDULE_IF_NEW_RETURNING, timer)).first()
    return Followup.of(row) if row else None


async def first_attempt(
    session: AsyncConnection, client_id: str, complaint_id: UUID, kind: FollowupKind, reason_key: str
) -> Followup:
    """The timer already there for this kind and reason (a retried request's first attempt)."""
    statement = select(followups).where(
        followups.c.client_id == client_id,
        followups.c.complaint_id == complaint_id,
        followups.c.kind == kind,
        followups.c.reason_key == reason_key,
        followups.c.attempt == 1,
    )
    return Followup.of((await session.execute(statement)).one())


# Every status and due-times event runs it: built once, the values bound per execution.
_CANCEL = (
    update(followups)
    .where(
        followups.c.complaint_id == bindparam("cid"),
        followups.c.kind.in_(bindparam("kinds", expanding=True)),
        followups.c.status == FollowupStatus.SCHEDULED,
        tuple_(followups.c.kind, followups.c.reason_key).not_in(bindparam("keep", expanding=True)),
    )
    .values(status=FollowupStatus.CANCELLED, cancel_reason=bindparam("reason"))
)


async def cancel(
    session: AsyncConnection,
    complaint_id: UUID,
    kinds: Iterable[str],
    reason: CancelReason,
    keep: Sequence[tuple[str, str]] = (),
) -> None:
    """Cancel the complaint's scheduled timers of these kinds but those `keep` names by (kind,
    reason key); fired ones are history and stay."""
    await session.execute(
        _CANCEL, {"cid": complaint_id, "kinds": list(kinds), "reason": reason, "keep": list(keep)}
    )


async def sync_deadline_timers(
    session: AsyncConnection,
    client_id: str,
    complaint_id: UUID,
    customer_id: str,
    wanted: Sequence[DeadlineTimer],
) -> None:
    """Make the complaint's scheduled deadline timers exactly `wanted`: cancel the ones whose due
    time has gone or moved, schedule the new ones (a timer that already fired is not fired again)."""
    keep = [(timer.kind.value, timer.reason_key) for timer in wanted]
    await cancel(session, complaint_id, DEADLINE_KINDS, CancelReason.DEADLINE_CHANGED, keep)
    if not wanted:
        return
    trace_context = current_trace_context()
    rows = [
        _timer(
            client_id=client_id,
            complaint_id=complaint_id,
            customer_id=customer_id,
            kind=timer.kind,
            due_at=timer.due_at,
            trace_context=trace_context,
            reason_key=timer.reason_key,
            deadline_name=timer.deadline_name,
        )
        for timer in wanted
    ]
    await session.execute(_SCHEDULE_IF_NEW, rows)  # one statement for all of them


async def claim_due(session: AsyncConnection, now: datetime, limit: int) -> list[Followup]:
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
    timers = [Followup.of(row) for row in await session.execute(statement)]
    return sorted(timers, key=lambda timer: (timer.due_at, timer.id))


async def lock_customers(session: AsyncConnection, customers: Iterable[tuple[str, str]]) -> None:
    """Serialise survey decisions per (client, customer) across replicas for this transaction
    (sorted, so two replicas never wait on each other in a cycle)."""
    ids = sorted({f"{client}:{customer}" for client, customer in customers})
    if ids:
        # unnest keeps the array's (sorted) order, so the locks are taken in that order.
        await session.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtextextended(c, 0)) FROM unnest(CAST(:ids AS text[])) AS c"
            ),
            {"ids": ids},
        )


async def recently_surveyed(
    session: AsyncConnection, customers: Iterable[tuple[str, str]], exclude: Iterable[UUID], since: datetime
) -> set[tuple[str, str]]:
    """(client, customer) pairs sent a satisfaction survey since `since` for another complaint: a
    customer id means one person only within its client."""
    pairs = list(set(customers))
    if not pairs:
        return set()
    rows = await session.execute(
        select(followups.c.client_id, followups.c.customer_id)
        .where(
            followups.c.kind == FollowupKind.SATISFACTION_CHECK,
            tuple_(followups.c.client_id, followups.c.customer_id).in_(pairs),
            followups.c.fired_at >= since,
            followups.c.complaint_id.not_in(list(exclude)),
            followups.c.status.in_([FollowupStatus.FIRED, FollowupStatus.DONE]),
        )
        .distinct()
    )
    return {(row.client_id, row.customer_id) for row in rows}


async def postpone(session: AsyncConnection, ids: Sequence[UUID], due_at: datetime) -> None:
    """Undo the claim on timers that must not fire yet (a survey waiting for a compensation
    decision): scheduled again, due at `due_at`."""
    if ids:
        await session.execute(
            update(followups)
            .where(followups.c.id.in_(ids))
            .values(fired_at=None, status=FollowupStatus.SCHEDULED, due_at=due_at)
        )


async def withdraw(session: AsyncConnection, ids: Sequence[UUID], reason: CancelReason) -> None:
    """Undo the claim on timers that must never fire (the customer was surveyed recently): cancelled."""
    if ids:
        await session.execute(
            update(followups)
            .where(followups.c.id.in_(ids))
            .values(fired_at=None, status=FollowupStatus.CANCELLED, cancel_reason=reason)
        )


async def cancel_one(session: AsyncConnection, followup_id: UUID, reason: CancelReason) -> Followup:
    """Cancel one follow-up (the caller holds its lock and saw it scheduled)."""
    statement = (
        update(followups)
        .where(followups.c.id == followup_id)
        .values(status=FollowupStatus.CANCELLED, cancel_reason=reason)
        .returning(*followups.c)
    )
    return Followup.of((await session.execute(statement)).one())


async def followups_for(session: AsyncConnection, client_id: str, complaint_id: UUID) -> list[Followup]:
    rows = await session.execute(
        select(followups)
        .where(followups.c.complaint_id == complaint_id, followups.c.client_id == client_id)
        .order_by(followups.c.due_at, followups.c.id)
    )
    return [Followup.of(row) for row in rows]


async def followup_by_id(
    session: AsyncConnection, client_id: str, followup_id: UUID, *, lock: bool = False
) -> Followup | None:
    """The client's follow-up; None alike for "absent" and "another client's"."""
    statement = select(followups).where(followups.c.id == followup_id, followups.c.client_id == client_id)
    if lock:
        statement = statement.with_for_update()
    row = (await session.execute(statement)).first()
    return Followup.of(row) if row else None


async def census(session: AsyncConnection, now: datetime) -> list[KindCount]:
    """Scheduled timers per kind, and those already past due (cheap: the partial index on them)."""
    rows = await session.execute(
        select(followups.c.kind, func.count(), func.count().filter(followups.c.due_at < now))
        .where(followups.c.status == FollowupStatus.SCHEDULED)
        .group_by(followups.c.kind)
    )
    return [KindCount(FollowupKind(kind), scheduled, overdue) for kind, scheduled, overdue in rows]
