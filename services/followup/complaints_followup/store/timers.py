"""Durable timers: scheduling, cancelling, and firing each due timer exactly once across replicas.

Firing claims due rows with FOR UPDATE SKIP LOCKED, marks them fired and writes their events to the
outbox in one transaction: two replicas never claim the same row, and a crash before the commit
leaves the row scheduled for the next poll. Cancelling only touches rows still `scheduled`; a
replica firing the row holds its lock, so the cancel waits, re-reads `fired` and does nothing:
a timer is either fired or cancelled, never both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Row, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.db import driver
from complaints_common.telemetry import current_trace_context
from complaints_followup.domain.schedule import (
    DEADLINE_KINDS,
    CancelReason,
    DeadlineTimer,
    FollowupKind,
    FollowupStatus,
    decision_pending,
)
from complaints_followup.store.tables import SCHEMA, followups


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
    def of(cls, row: Row[Any] | Mapping[str, Any]) -> Followup:
        """A row as SQLAlchemy returns it, or a record as the driver does (the hot statements)."""
        values = row._mapping if isinstance(row, Row) else row
        return cls(
            **{**values, "kind": FollowupKind(values["kind"]), "status": FollowupStatus(values["status"])}
        )


@dataclass(frozen=True, slots=True)
class KindCount:
    """How many timers of a kind wait to fall due, and how many of those are already past due."""

    kind: FollowupKind
    scheduled: int
    overdue: int


# The hot statements go straight to the driver, built once: through SQLAlchemy, building and
# executing a statement cost more CPU than running it (docs/benchmarks/limits.md).
_TABLE = f'"{SCHEMA}".followups'
_RETURNED = ", ".join(column.name for column in followups.c)
_SCHEDULED = FollowupStatus.SCHEDULED.value
# One timer; one already there (same complaint, kind, reason and attempt) is kept.
_SCHEDULE_IF_NEW = (
    f"INSERT INTO {_TABLE} (id, client_id, complaint_id, customer_id, kind, attempt, reason_key, "  # noqa: S608
    "due_at, status, trace_context, team, agent_id, note) "
    f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '{_SCHEDULED}', $9, $10, $11, $12) "
    f"ON CONFLICT DO NOTHING RETURNING {_RETURNED}"
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
    reason and attempt. It keeps the scheduling trace, which its firing continues."""
    record = await (await driver(session)).fetchrow(
        _SCHEDULE_IF_NEW,
        uuid4(),
        client_id,
        complaint_id,
        customer_id,
        kind,
        attempt,
        reason_key,
        due_at,
        json.dumps(current_trace_context()),
        team,
        agent_id,
        note,
    )
    return Followup.of(record) if record else None


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


_CANCEL = (
    f"UPDATE {_TABLE} SET status = '{FollowupStatus.CANCELLED.value}', cancel_reason = $3 "  # noqa: S608
    f"WHERE complaint_id = $1 AND kind = ANY($2::text[]) AND status = '{_SCHEDULED}'"
)


async def cancel(
    session: AsyncConnection, complaint_id: UUID, kinds: Iterable[str], reason: CancelReason
) -> None:
    """Cancel the complaint's scheduled timers of these kinds; fired ones are history and stay."""
    await (await driver(session)).execute(_CANCEL, complaint_id, list(kinds), reason)


# The deadline watches in one statement: those no longer wanted cancelled, the new ones scheduled
# (multi-row, from arrays). The two never touch the same row: the cancel spares every wanted
# (kind, reason key), and the insert only adds wanted ones.
_SYNC_DEADLINE_TIMERS = (
    f"WITH cancelled AS (UPDATE {_TABLE} SET status = '{FollowupStatus.CANCELLED.value}', "  # noqa: S608
    f"cancel_reason = '{CancelReason.DEADLINE_CHANGED.value}' "
    f"WHERE complaint_id = $2 AND kind = ANY($5::text[]) AND status = '{_SCHEDULED}' "
    "AND (kind, reason_key) NOT IN (SELECT * FROM unnest($7::text[], $8::text[]))) "
    f"INSERT INTO {_TABLE} (id, client_id, complaint_id, customer_id, kind, reason_key, due_at, "
    "deadline_name, status, trace_context) "
    f"SELECT w.id, $1, $2, $3, w.kind, w.reason_key, w.due_at, w.deadline_name, '{_SCHEDULED}', $4 "
    "FROM unnest($6::uuid[], $7::text[], $8::text[], $9::timestamptz[], $10::text[]) "
    "AS w(id, kind, reason_key, due_at, deadline_name) "
    "ON CONFLICT DO NOTHING"
)
_DEADLINE_KINDS = sorted(DEADLINE_KINDS)


async def sync_deadline_timers(
    session: AsyncConnection,
    client_id: str,
    complaint_id: UUID,
    customer_id: str,
    wanted: Sequence[DeadlineTimer],
) -> None:
    """Make the complaint's scheduled deadline timers exactly `wanted`: cancel the ones whose due
    time has gone or moved, schedule the new ones (a timer that already fired is not fired again)."""
    await (await driver(session)).execute(
        _SYNC_DEADLINE_TIMERS,
        client_id,
        complaint_id,
        customer_id,
        json.dumps(current_trace_context()),
        _DEADLINE_KINDS,
        [uuid4() for _ in wanted],
        [timer.kind for timer in wanted],
        [timer.reason_key for timer in wanted],
        [timer.due_at for timer in wanted],
        [timer.deadline_name for timer in wanted],
    )


_CLAIM_DUE = (
    f"WITH due AS (SELECT id FROM {_TABLE} WHERE status = '{_SCHEDULED}' AND due_at <= $1 "  # noqa: S608
    "ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED) "
    f"UPDATE {_TABLE} SET status = '{FollowupStatus.FIRED.value}', fired_at = $1 "
    f"WHERE id IN (SELECT id FROM due) RETURNING {_RETURNED}"
)


async def claim_due(session: AsyncConnection, now: datetime, limit: int) -> list[Followup]:
    """Lock and mark fired, in one statement, the oldest due timers that no other replica holds."""
    timers = [Followup.of(record) for record in await (await driver(session)).fetch(_CLAIM_DUE, now, limit)]
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


@dataclass(frozen=True, slots=True)
class SurveyFacts:
    """What the survey rules ask of a batch's satisfaction checks."""

    pending: set[UUID]  # complaints waiting for a compensation decision
    surveyed: set[tuple[str, str]]  # (client, customer) sent a survey lately for another complaint


# Both in one round trip, after the customers' locks (so a survey another replica just sent is
# seen): the complaints with a pending word on their decision, and the customers surveyed since $4
# for other complaints (a customer id means one person only within its client).
_SURVEY_FACTS = (
    "SELECT complaint_id, decision_pending_since, decision_settled_at, NULL AS client_id, "  # noqa: S608
    f'NULL AS customer_id FROM "{SCHEMA}".complaints '
    "WHERE complaint_id = ANY($1::uuid[]) AND decision_pending_since IS NOT NULL "
    "UNION ALL "
    "SELECT DISTINCT NULL::uuid, NULL::timestamptz, NULL::timestamptz, client_id, customer_id "
    f"FROM {_TABLE} WHERE kind = '{FollowupKind.SATISFACTION_CHECK.value}' "
    "AND (client_id, customer_id) IN (SELECT * FROM unnest($2::text[], $3::text[])) "
    "AND fired_at >= $4 AND complaint_id <> ALL($1::uuid[]) "
    f"AND status IN ('{FollowupStatus.FIRED.value}', '{FollowupStatus.DONE.value}')"
)


async def survey_facts(
    session: AsyncConnection,
    complaint_ids: Iterable[UUID],
    customers: Iterable[tuple[str, str]],
    since: datetime,
) -> SurveyFacts:
    """Which of these complaints wait for a compensation decision, and which of these (client,
    customer) pairs were sent a satisfaction survey since `since` for another complaint."""
    pairs = sorted(set(customers))
    rows = await (await driver(session)).fetch(
        _SURVEY_FACTS, list(set(complaint_ids)), [c for c, _ in pairs], [c for _, c in pairs], since
    )
    pending = {
        row["complaint_id"]
        for row in rows
        if row["complaint_id"] is not None
        and decision_pending(row["decision_pending_since"], row["decision_settled_at"])
    }
    surveyed = {(row["client_id"], row["customer_id"]) for row in rows if row["complaint_id"] is None}
    return SurveyFacts(pending, surveyed)


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
