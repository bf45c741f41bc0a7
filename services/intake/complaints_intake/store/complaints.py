"""Reading and writing complaints and their history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.db import driver
from complaints_common.events.contracts import Money
from complaints_intake.domain.complaint import ComplaintDraft, Customer, Status
from complaints_intake.domain.deadlines import Choice, DueTime, next_due
from complaints_intake.domain.journey import Journey
from complaints_intake.domain.lifecycle import Change, Lifecycle, RootCause
from complaints_intake.domain.repeats import RepeatLink
from complaints_intake.store.tables import complaint_history, complaints


class _Lifecycled:
    """The stored fields the lifecycle rules read, shared by the whole complaint and its journey's
    narrow read."""

    __slots__ = ()
    status: Status
    escalation_level: int
    waiting_on_customer: bool
    reopen_count: int
    root_cause: RootCause | None
    deadlines: tuple[DueTime, ...]

    @property
    def lifecycle(self) -> Lifecycle:
        """The part the lifecycle rules read and change."""
        summary = next((d.due_at for d in self.deadlines if d.name == "summary_resolution"), None)
        return Lifecycle(
            status=self.status,
            escalation_level=self.escalation_level,
            waiting_on_customer=self.waiting_on_customer,
            reopen_count=self.reopen_count,
            root_cause=self.root_cause,
            summary_until=summary,
        )


@dataclass(frozen=True, slots=True)
class ComplaintRecord(_Lifecycled):
    """A complaint as stored: its filing, its life, its journey and its due times."""

    id: UUID
    reference: str
    client_id: str
    crm_reference: str | None
    customer_id: str
    customer: Customer
    channel: str
    category: str
    product: str | None
    severity: str
    description: str
    amount: Decimal | None
    currency: str | None
    occurred_at: datetime | None
    filed_at: datetime
    agent_id: str | None
    tags: tuple[str, ...]
    confidential: bool
    status: Status
    updated_at: datetime
    escalation_level: int
    waiting_on_customer: bool
    reopen_count: int
    root_cause: RootCause | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    abusive_conduct_at: datetime | None
    abusive_conduct_by: str | None
    journey: Journey
    deadline_profile: str | None
    deadline_profile_reason: str | None
    calendar: str | None
    calendar_reason: str | None
    deadlines: tuple[DueTime, ...]
    next_due_at: datetime | None
    repeat_of: UUID | None
    repeat_kind: str | None
    outcome: str | None
    redress_amount: Decimal | None
    redress_currency: str | None

    @property
    def amount_at_stake(self) -> Money | None:
        return Money(amount=self.amount, currency=self.currency) if self.amount is not None else None

    @property
    def redress(self) -> Money | None:
        if self.redress_amount is None:
            return None
        return Money(amount=self.redress_amount, currency=self.redress_currency)


@dataclass(frozen=True, slots=True)
class JourneyRecord(_Lifecycled):
    """What a journey step and the lifecycle changes it moves on read of a complaint: its journey,
    its life and what its due times are computed from; not its filing (the customer's details, the
    description), which the other services' answers never need."""

    id: UUID
    client_id: str
    customer_id: str
    filed_at: datetime
    status: Status
    escalation_level: int
    waiting_on_customer: bool
    reopen_count: int
    root_cause: RootCause | None
    journey: Journey
    deadline_profile: str | None
    calendar: str | None
    deadlines: tuple[DueTime, ...]


class DriverRow(asyncpg.Record):  # type: ignore[misc]  # asyncpg ships no type hints
    """A row from the driver read by attribute like SQLAlchemy's (`row.status`): one converter
    (`_complaint`) serves both."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _complaint(row: Row[Any] | DriverRow) -> ComplaintRecord:
    return ComplaintRecord(
        id=row.id,
        reference=row.reference,
        client_id=row.client_id,
        crm_reference=row.crm_reference,
        customer_id=row.customer_id,
        customer=Customer.model_validate(row.customer),
        channel=row.channel,
        category=row.category,
        product=row.product,
        severity=row.severity,
        description=row.description,
        amount=row.amount,
        currency=row.currency,
        occurred_at=row.occurred_at,
        filed_at=row.filed_at,
        agent_id=row.agent_id,
        tags=tuple(row.tags),
        confidential=row.confidential,
        status=Status(row.status),
        updated_at=row.updated_at,
        escalation_level=row.escalation_level,
        waiting_on_customer=row.waiting_on_customer,
        reopen_count=row.reopen_count,
        root_cause=RootCause(row.root_cause) if row.root_cause else None,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        abusive_conduct_at=row.abusive_conduct_at,
        abusive_conduct_by=row.abusive_conduct_by,
        journey=Journey.model_validate(row.journey),
        deadline_profile=row.deadline_profile,
        deadline_profile_reason=row.deadline_profile_reason,
        calendar=row.calendar,
        calendar_reason=row.calendar_reason,
        deadlines=tuple(DueTime.from_dict(d) for d in row.deadlines),
        next_due_at=row.next_due_at,
        repeat_of=row.repeat_of,
        repeat_kind=row.repeat_kind,
        outcome=row.outcome,
        redress_amount=row.redress_amount,
        redress_currency=row.redress_currency,
    )


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One audited change: who, when, from, to, why."""

    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    escalation_level: int
    reason: str | None
    note: str | None


# The statements run for every complaint and every event are built once, the values passed per
# execution: building them anew cost more CPU than running them (py-spy, `make profile`).
_INSERT_COMPLAINT = complaints.insert().returning(complaints)
# The hottest ones go straight to the driver (complaints_common.db.driver), as module-level SQL.
_INSERT_HISTORY = (
    f"INSERT INTO {complaint_history.fullname} "  # noqa: S608 - table names from code
    "(complaint_id, at, actor, action, from_status, to_status, escalation_level, reason, note) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)


async def insert_complaint(
    session: AsyncConnection,
    *,
    complaint_id: UUID,
    reference: str,
    client_id: str,
    filed_at: datetime,
    draft: ComplaintDraft,
    actor: str,
    link: RepeatLink | None = None,
    profile: Choice | None = None,
    calendar: Choice | None = None,
    due_times: list[DueTime] | None = None,
) -> ComplaintRecord:
    """Store the complaint and its first history entry; the stored complaint, as `get_complaint` reads it."""
    amount = draft.amount_at_stake
    inserted = await session.execute(
        _INSERT_COMPLAINT,
        dict(
            id=complaint_id,
            reference=reference,
            client_id=client_id,
            crm_reference=draft.crm_reference,
            customer_id=draft.customer.customer_id,
            customer=draft.customer.model_dump(mode="json"),
            channel=draft.channel,
            category=draft.category,
            product=draft.product,
            severity=draft.severity,
            description=draft.description,
            amount=amount.amount if amount else None,
            currency=amount.currency if amount else None,
            occurred_at=draft.occurred_at,
            filed_at=filed_at,
            agent_id=draft.agent_id,
            tags=draft.tags,
            confidential=draft.confidential,
            status=Status.RECEIVED,
            updated_at=filed_at,
            repeat_of=link.repeat_of if link else None,
            repeat_kind=link.kind if link else None,
            deadline_profile=profile.name if profile else None,
            deadline_profile_reason=profile.reason if profile else None,
            calendar=calendar.name if calendar else None,
            calendar_reason=calendar.reason if calendar else None,
            deadlines=[d.as_dict() for d in due_times or []],
            next_due_at=next_due(due_times or []),
        ),
    )
    row = _complaint(inserted.one())
    await add_history(
        session,
        complaint_id,
        at=filed_at,
        actor=actor,
        action="file",
        to_status=Status.RECEIVED,
    )
    return row


_GET_COMPLAINT = select(complaints).where(complaints.c.id == bindparam("complaint_id"))
# One change at a time per complaint: the audit's from/to must chain without gaps.
_GET_COMPLAINT_FOR_UPDATE = _GET_COMPLAINT.with_for_update()


async def get_complaint(
    session: AsyncConnection, complaint_id: UUID, *, for_update: bool = False
) -> ComplaintRecord | None:
    statement = _GET_COMPLAINT_FOR_UPDATE if for_update else _GET_COMPLAINT
    row = (await session.execute(statement, {"complaint_id": complaint_id})).first()
    return _complaint(row) if row else None


_JOURNEY_FOR_UPDATE = (
    "SELECT client_id, customer_id, filed_at, status, escalation_level, waiting_on_customer, "  # noqa: S608 - table names from code
    "reopen_count, root_cause, journey::text AS journey, deadline_profile, calendar, deadlines "
    f"FROM {complaints.fullname} WHERE id = $1 FOR UPDATE"
)


async def journey_of(session: AsyncConnection, complaint_id: UUID) -> JourneyRecord | None:
    """The complaint's journey and life, locked for the step (one at a time per complaint, as
    `get_complaint(for_update=True)`); None when unknown here."""
    row = await (await driver(session)).fetchrow(_JOURNEY_FOR_UPDATE, complaint_id)
    if row is None:
        return None
    return JourneyRecord(
        id=complaint_id,
        client_id=row["client_id"],
        customer_id=row["customer_id"],
        filed_at=row["filed_at"],
        status=Status(row["status"]),
        escalation_level=row["escalation_level"],
        waiting_on_customer=row["waiting_on_customer"],
        reopen_count=row["reopen_count"],
        root_cause=RootCause(row["root_cause"]) if row["root_cause"] else None,
        # As JSON text: pydantic parses and validates it in one pass, faster than json.loads first.
        journey=Journey.model_validate_json(row["journey"]),
        deadline_profile=row["deadline_profile"],
        calendar=row["calendar"],
        deadlines=tuple(DueTime.from_dict(d) for d in row["deadlines"]),
    )


# The milestone column each status stamps when the complaint first reaches it.
MILESTONES = {
    Status.ACKNOWLEDGED: "acknowledged_at",
    Status.RESOLVED: "resolved_at",
    Status.CLOSED: "closed_at",
}


# The new lifecycle state, its audit row ($1-$9, as _INSERT_HISTORY) and, when recomputed, the due
# times and the journey, in one statement. $13 names the milestone column to stamp; $14 says
# whether the outcome and redress are set, $18 whether the due times are.
_SAVE_CHANGE = f"""
WITH audit AS ({_INSERT_HISTORY})
UPDATE {complaints.fullname} SET
    status = $6, escalation_level = $7, waiting_on_customer = $10, reopen_count = $11,
    root_cause = $12, updated_at = $2,
    acknowledged_at = CASE WHEN $13::text = 'acknowledged_at' THEN $2 ELSE acknowledged_at END,
    resolved_at = CASE WHEN $13::text = 'resolved_at' THEN $2 ELSE resolved_at END,
    closed_at = CASE WHEN $13::text = 'closed_at' THEN $2 ELSE closed_at END,
    outcome = CASE WHEN $14::boolean THEN $15::text ELSE outcome END,
    redress_amount = CASE WHEN $14::boolean THEN $16::numeric ELSE redress_amount END,
    redress_currency = CASE WHEN $14::boolean THEN $17::text ELSE redress_currency END,
    deadlines = CASE WHEN $18::boolean THEN $19::jsonb ELSE deadlines END,
    next_due_at = CASE WHEN $18::boolean THEN $20::timestamptz ELSE next_due_at END,
    journey = COALESCE($21::jsonb, journey)
WHERE id = $1
RETURNING {", ".join(f'"{column.name}"' for column in complaints.columns)}
"""  # noqa: S608 - table names from code


async def save_change(
    session: AsyncConnection,
    complaint_id: UUID,
    change: Change,
    *,
    at: datetime,
    actor: str,
    reason: str | None = None,
    note: str | None = None,
    outcome: str | None = None,
    redress: Money | None = None,
    due_times: list[DueTime] | None = None,
    journey: Journey | None = None,
) -> ComplaintRecord:
    """Write the new lifecycle state and its audit row in the caller's transaction; the updated complaint.

    A final response also records its outcome and redress; `due_times` and `journey`, when given,
    are stored too."""
    before, after = change.before, change.after
    milestone = MILESTONES.get(after.status) if change.status_changed else None
    connection = await driver(session)
    updated = await connection.fetchrow(
        _SAVE_CHANGE,
        complaint_id,
        at,
        actor,
        change.action.value,
        before.status.value,
        after.status.value,
        after.escalation_level,
        reason,
        note,
        after.waiting_on_customer,
        after.reopen_count,
        after.root_cause.value if after.root_cause else None,
        milestone,
        outcome is not None,
        outcome,
        redress.amount if redress else None,
        redress.currency if redress else None,
        due_times is not None,
        json.dumps([d.as_dict() for d in due_times or []]),
        next_due(due_times or []),
        journey.model_dump_json() if journey else None,
        record_class=DriverRow,
    )
    return _complaint(updated)


async def add_history(
    session: AsyncConnection,
    complaint_id: UUID,
    *,
    at: datetime,
    actor: str,
    action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    escalation_level: int = 0,
    reason: str | None = None,
    note: str | None = None,
) -> None:
    await (await driver(session)).execute(
        _INSERT_HISTORY,
        complaint_id,
        at,
        actor,
        action,
        from_status,
        to_status,
        escalation_level,
        reason,
        note,
    )


async def history_of(session: AsyncConnection, complaint_id: UUID) -> list[HistoryRecord]:
    rows = await session.execute(
        select(complaint_history)
        .where(complaint_history.c.complaint_id == complaint_id)
        .order_by(complaint_history.c.seq)
    )
    return [
        HistoryRecord(
            at=r.at,
            actor=r.actor,
            action=r.action,
            from_status=r.from_status,
            to_status=r.to_status,
            escalation_level=r.escalation_level,
            reason=r.reason,
            note=r.note,
        )
        for r in rows
    ]


_SET_JOURNEY = f"UPDATE {complaints.fullname} SET journey = $2 WHERE id = $1"  # noqa: S608 - table names from code


async def set_journey(session: AsyncConnection, complaint_id: UUID, journey: Journey) -> None:
    await (await driver(session)).execute(_SET_JOURNEY, complaint_id, journey.model_dump_json())


_CLOCK_HISTORY = (
    f"SELECT action, at, to_status FROM {complaint_history.fullname} "  # noqa: S608 - table names from code
    "WHERE complaint_id = $1 ORDER BY seq"
)


async def clock_history(
    session: AsyncConnection, complaint_id: UUID
) -> list[tuple[str, datetime, str | None]]:
    """(action, at, to_status) of every audited change, in order: what due times are computed from."""
    rows = await (await driver(session)).fetch(_CLOCK_HISTORY, complaint_id)
    return [(r["action"], r["at"], r["to_status"]) for r in rows]


async def complaint_with_crm_reference(
    session: AsyncConnection, client_id: str, crm_reference: str
) -> UUID | None:
    """The complaint this client already filed under its own reference, if any."""
    row = await session.execute(
        select(complaints.c.id).where(
            complaints.c.client_id == client_id, complaints.c.crm_reference == crm_reference
        )
    )
    return row.scalar_one_or_none()


# The reason code of the escalation an abusive-conduct flag makes (history, status change, insights).
ABUSIVE_CONDUCT = "abusive_conduct"


async def set_abusive_conduct(session: AsyncConnection, complaint_id: UUID, at: datetime, by: str) -> None:
    await session.execute(
        update(complaints)
        .where(complaints.c.id == complaint_id)
        .values(abusive_conduct_at=at, abusive_conduct_by=by)
    )
