"""The audit trail: decisions read back, by complaint, by id or by search; and erasure."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import DecisionStatus
from complaints_common.problems import or_not_found
from complaints_compensation.dependencies import CompensationDependencies
from complaints_compensation.store import decisions as store
from complaints_compensation.store import reports
from complaints_compensation.store.decisions import DecisionRecord

NO_SUCH_DECISION = "No such decision."
NO_DECISION_YET = "No compensation decision for this complaint yet."


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    customer_id: str | None = None
    status: DecisionStatus | None = None
    complaint_id: UUID | None = None
    rule_id: str | None = None


async def decision_of_complaint(
    deps: CompensationDependencies, client_id: str, complaint_id: UUID
) -> DecisionRecord:
    """The complaint's latest decision."""
    async with deps.runtime.db.transaction() as session:
        found = or_not_found(await store.decision_for(session, client_id, complaint_id), NO_DECISION_YET)
    return found


async def decision(deps: CompensationDependencies, client_id: str, decision_id: UUID) -> DecisionRecord:
    async with deps.runtime.db.transaction() as session:
        found = or_not_found(await store.decision_by_id(session, client_id, decision_id), NO_SUCH_DECISION)
    return found


async def find_decisions(
    deps: CompensationDependencies, client_id: str, where: DecisionFilter, limit: int, offset: int
) -> list[DecisionRecord]:
    """Newest first."""
    query = store.search(
        client_id,
        customer_id=where.customer_id,
        status=where.status,
        complaint_id=where.complaint_id,
        rule_id=where.rule_id,
    )
    async with deps.runtime.db.transaction() as session:
        return await store.find_decisions(session, query, limit, offset)


async def waiting_for_approval(
    deps: CompensationDependencies, client_id: str, limit: int, offset: int
) -> list[DecisionRecord]:
    """Decisions waiting for a supervisor or manager, oldest first."""
    async with deps.runtime.db.transaction() as session:
        return await reports.waiting(session, client_id, limit, offset)


async def locked_decision(session: AsyncConnection, client_id: str, decision_id: UUID) -> DecisionRecord:
    """The client's decision, its customer locked (caps are checked under that lock) and then the
    row itself; 404 alike for "absent" and "another client's"."""
    found = or_not_found(await store.decision_by_id(session, client_id, decision_id), NO_SUCH_DECISION)
    await store.lock_customer(session, client_id, found.customer_id)
    locked = await store.decision_by_id(session, client_id, decision_id, for_update=True)
    assert locked is not None  # decisions are never deleted
    return locked


async def forget_contact(session: AsyncConnection, complaint_id: UUID) -> None:
    """Erasure: a contact's digest still identifies the customer; decisions and amounts stay."""
    await store.forget_contact(session, complaint_id)
