"""Reading and writing compensation decisions, and the customer history the abuse rules need."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Select, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import ComplaintCreatedV1
from complaints_compensation.domain.policy import CustomerHistory
from complaints_compensation.domain.rules import AbuseLimits
from complaints_compensation.store.tables import complaints, decisions

LIVE = ("granted", "pending_approval", "held")


def contact_digest(value: str | None) -> str | None:
    """Normalised, hashed: enough to see an e-mail or phone shared across customers, nothing more."""
    if not value:
        return None
    normalised = "".join(value.split()).lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


async def lock_customer(session: AsyncConnection, customer_id: str) -> None:
    """Serialise decisions for one customer (across replicas) so caps cannot be raced past."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:c))"), {"c": "comp:" + customer_id})


async def remember_complaint(session: AsyncConnection, complaint: ComplaintCreatedV1) -> None:
    snapshot = complaint.model_dump(mode="json")
    snapshot["customer"] = {"customer_id": complaint.customer.customer_id, "tier": complaint.customer.tier}
    statement = insert(complaints).values(
        complaint_id=complaint.complaint_id,
        customer_id=complaint.customer.customer_id,
        channel=complaint.channel,
        email_sha256=contact_digest(complaint.customer.email),
        phone_sha256=contact_digest(complaint.customer.phone),
        snapshot=snapshot,
        filed_at=complaint.filed_at,
    )
    await session.execute(statement.on_conflict_do_nothing(index_elements=[complaints.c.complaint_id]))


async def known_complaint(
    session: AsyncConnection, complaint_id: UUID
) -> tuple[ComplaintCreatedV1, str | None, str | None] | None:
    row = (await session.execute(select(complaints).where(complaints.c.complaint_id == complaint_id))).first()
    if row is None:
        return None
    return ComplaintCreatedV1.model_validate(row.snapshot), row.email_sha256, row.phone_sha256


async def customer_history(
    session: AsyncConnection,
    complaint: ComplaintCreatedV1,
    limits: AbuseLimits,
    currency: str,
    now: datetime,
    contact: tuple[str | None, str | None],
    order_ref: str | None,
) -> CustomerHistory:
    customer = complaint.customer.customer_id
    granted = (
        select(func.count(), func.coalesce(func.sum(decisions.c.value_amount), 0))
        .where(decisions.c.customer_id == customer, decisions.c.status == "granted")
        .where(decisions.c.value_amount > 0, decisions.c.currency == currency)
        .where(decisions.c.settled_at >= now - timedelta(days=limits.window_days))
    )
    count, value = (await session.execute(granted)).one()
    channels = select(func.distinct(complaints.c.channel)).where(
        complaints.c.customer_id == customer,
        complaints.c.filed_at >= now - timedelta(hours=limits.velocity_hours),
    )
    seen_channels = {row[0] for row in await session.execute(channels)} | {complaint.channel}
    return CustomerHistory(
        grants_in_window=int(count),
        value_in_window=Decimal(value),
        channels_in_velocity_window=frozenset(seen_channels),
        customers_sharing_contact=await _customers_sharing(session, customer, contact),
        order_already_compensated=await _order_compensated(session, order_ref),
    )


async def _customers_sharing(
    session: AsyncConnection, customer: str, contact: tuple[str | None, str | None]
) -> int:
    email, phone = contact
    conditions = [
        column == digest
        for column, digest in ((complaints.c.email_sha256, email), (complaints.c.phone_sha256, phone))
        if digest
    ]
    if not conditions:
        return 1
    others = select(func.count(func.distinct(complaints.c.customer_id))).where(
        or_(*conditions), complaints.c.customer_id != customer
    )
    return 1 + int((await session.execute(others)).scalar_one())


async def _order_compensated(session: AsyncConnection, order_ref: str | None) -> bool:
    if order_ref is None:
        return False
    query = select(decisions.c.id).where(
        decisions.c.order_ref == order_ref, decisions.c.status == "granted", decisions.c.value_amount > 0
    )
    return (await session.execute(query.limit(1))).first() is not None


async def insert_decision(session: AsyncConnection, row: dict[str, Any]) -> bool:
    """Store a decision; False when the complaint already has its automatic one (nothing is written)."""
    statement = (
        insert(decisions)
        .values(**row)
        .on_conflict_do_nothing(
            index_elements=[decisions.c.complaint_id], index_where=text("proposed_by = 'auto'")
        )
        .returning(decisions.c.id)
    )
    return (await session.execute(statement)).first() is not None


async def has_live_decision(session: AsyncConnection, complaint_id: UUID) -> bool:
    query = select(decisions.c.id).where(
        decisions.c.complaint_id == complaint_id, decisions.c.status.in_(LIVE), decisions.c.value_amount > 0
    )
    return (await session.execute(query.limit(1))).first() is not None


async def decision_for(session: AsyncConnection, complaint_id: UUID) -> dict[str, Any] | None:
    """The complaint's latest decision."""
    query = (
        select(decisions)
        .where(decisions.c.complaint_id == complaint_id)
        .order_by(decisions.c.decided_at.desc())
    )
    row = (await session.execute(query.limit(1))).first()
    return dict(row._mapping) if row else None


async def decision_by_id(
    session: AsyncConnection, decision_id: UUID, *, for_update: bool = False
) -> dict[str, Any] | None:
    query = select(decisions).where(decisions.c.id == decision_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row else None


async def update_decision(session: AsyncConnection, decision_id: UUID, **values: Any) -> None:
    await session.execute(update(decisions).where(decisions.c.id == decision_id).values(**values))


def search(
    *,
    customer_id: str | None = None,
    status: str | None = None,
    complaint_id: UUID | None = None,
    rule_id: str | None = None,
) -> Select[Any]:
    query = select(decisions)
    for column, value in (
        (decisions.c.customer_id, customer_id),
        (decisions.c.status, status),
        (decisions.c.complaint_id, complaint_id),
        (decisions.c.rule_id, rule_id),
    ):
        if value is not None:
            query = query.where(column == value)
    return query


async def find_decisions(
    session: AsyncConnection, query: Select[Any], limit: int, offset: int
) -> list[dict[str, Any]]:
    ordered = query.order_by(decisions.c.decided_at.desc(), decisions.c.id).limit(limit).offset(offset)
    return [dict(row._mapping) for row in await session.execute(ordered)]


async def granted_spend(session: AsyncConnection, since: datetime, currency: str) -> Decimal:
    query = select(func.coalesce(func.sum(decisions.c.cost_amount), 0)).where(
        decisions.c.status == "granted", decisions.c.settled_at >= since, decisions.c.currency == currency
    )
    return Decimal((await session.execute(query)).scalar_one())
