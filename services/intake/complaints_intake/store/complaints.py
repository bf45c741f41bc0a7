"""Reading and writing complaints and their history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import Money
from complaints_intake.domain.complaint import Customer, Status
from complaints_intake.domain.deadlines import DueTime, next_due
from complaints_intake.domain.journey import Journey
from complaints_intake.domain.lifecycle import Change, Lifecycle, RootCause
from complaints_intake.store.tables import complaint_history, complaints


@dataclass(frozen=True, slots=True)
class ComplaintRecord:
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


def _complaint(row: Row[Any]) -> ComplaintRecord:
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
_INSERT_HISTORY = complaint_history.insert()


_GET_COMPLAINT = select(complaints).where(complaints.c.id == bindparam("complaint_id"))
# One change at a time per complaint: the audit's from/to must chain without gaps.
_GET_COMPLAINT_FOR_UPDATE = _GET_COMPLAINT.with_for_update()


async def get_complaint(
    session: AsyncConnection, complaint_id: UUID, *, for_update: bool = False
) -> ComplaintRecord | None:
    statement = _GET_COMPLAINT_FOR_UPDATE if for_update else _GET_COMPLAINT
    row = (await session.execute(statement, {"complaint_id": complaint_id})).first()
    return _complaint(row) if row else None


# The milestone column each status stamps when the complaint first reaches it.
MILESTONES = {
    Status.ACKNOWLEDGED: "acknowledged_at",
    Status.RESOLVED: "resolved_at",
    Status.CLOSED: "closed_at",
}


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
) -> ComplaintRecord:
    """Write the new lifecycle state and its audit row in the caller's transaction; the updated complaint.

    A final response also records its outcome and redress."""
    after = change.after
    values: dict[str, object] = {
        "status": after.status,
        "escalation_level": after.escalation_level,
        "waiting_on_customer": after.waiting_on_customer,
        "reopen_count": after.reopen_count,
        "root_cause": after.root_cause,
        "updated_at": at,
    }
    if outcome is not None:
        values |= {
            "outcome": outcome,
            "redress_amount": redress.amount if redress else None,
            "redress_currency": redress.currency if redress else None,
        }
    milestone = MILESTONES.get(after.status)
    if change.status_changed and milestone:
        values[milestone] = at
    updated = await session.execute(
        update(complaints).where(complaints.c.id == complaint_id).values(**values).returning(complaints)
    )
    row = _complaint(updated.one())
    await add_history(
        session,
        complaint_id,
        at=at,
        actor=actor,
        action=change.action,
        from_status=change.before.status,
        to_status=after.status,
        escalation_level=after.escalation_level,
        reason=reason,
        note=note,
    )
    return row


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
    await session.execute(
        _INSERT_HISTORY,
        dict(
            complaint_id=complaint_id,
            at=at,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=to_status,
            escalation_level=escalation_level,
            reason=reason,
            note=note,
        ),
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


_SET_JOURNEY = update(complaints).where(complaints.c.id == bindparam("complaint_id"))


async def set_journey(session: AsyncConnection, complaint_id: UUID, journey: Journey) -> None:
    await session.execute(
        _SET_JOURNEY, {"complaint_id": complaint_id, "journey": journey.model_dump(mode="json")}
    )


async def set_deadlines(
    session: AsyncConnection, complaint_id: UUID, due_times: list[DueTime]
) -> ComplaintRecord:
    """Store the due times; the updated complaint."""
    updated = await session.execute(
        update(complaints)
        .where(complaints.c.id == complaint_id)
        .values(deadlines=[d.as_dict() for d in due_times], next_due_at=next_due(due_times))
        .returning(complaints)
    )
    return _complaint(updated.one())


async def clock_history(
    session: AsyncConnection, complaint_id: UUID
) -> list[tuple[str, datetime, str | None]]:
    """(action, at, to_status) of every audited change, in order: what due times are computed from."""
    rows = await session.execute(
        select(complaint_history.c.action, complaint_history.c.at, complaint_history.c.to_status)
        .where(complaint_history.c.complaint_id == complaint_id)
        .order_by(complaint_history.c.seq)
    )
    return [(r.action, r.at, r.to_status) for r in rows]


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
