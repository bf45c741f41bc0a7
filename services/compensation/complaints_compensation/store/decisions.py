"""Reading and writing compensation decisions, and the customer history the abuse rules need."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import BindParameter, Select, bindparam, func, or_, select, text, update
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


def _customer_history_query() -> Select[Any]:
    """Everything the abuse rules ask of a customer's past, in one round trip (built once; the
    values are bound per execution)."""
    customer: BindParameter[str] = bindparam("customer")
    granted = (decisions.c.customer_id == customer) & (decisions.c.status == "granted")
    granted &= (decisions.c.value_amount > 0) & (decisions.c.currency == bindparam("currency"))
    granted &= decisions.c.settled_at >= bindparam("grants_since")
    # A missing digest binds NULL, and `column = NULL` matches nothing.
    shares_contact = or_(
        complaints.c.email_sha256 == bindparam("email"), complaints.c.phone_sha256 == bindparam("phone")
    )
    return select(
        select(func.count()).where(granted).scalar_subquery().label("grants"),
        select(func.coalesce(func.sum(decisions.c.value_amount), 0))
        .where(granted)
        .scalar_subquery()
        .label("value"),
        select(func.array_agg(func.distinct(complaints.c.channel)))
        .where(complaints.c.customer_id == customer, complaints.c.filed_at >= bindparam("channels_since"))
        .scalar_subquery()
        .label("channels"),
        select(func.count(func.distinct(complaints.c.customer_id)))
        .where(shares_contact, complaints.c.customer_id != customer)
        .scalar_subquery()
        .label("others_sharing_contact"),
        select(decisions.c.id)
        .where(
            decisions.c.order_ref == bindparam("order_ref"),
            decisions.c.status == "granted",
            decisions.c.value_amount > 0,
        )
        .limit(1)
        .exists()
        .label("order_compensated"),
    )


_CUSTOMER_HISTORY = _customer_history_query()


async def customer_history(
    session: AsyncConnection,
    complaint: ComplaintCreatedV1,
    limits: AbuseLimits,
    currency: str,
    now: datetime,
    contact: tuple[str | None, str | None],
    order_ref: str | None,
) -> CustomerHistory:
    email, phone = contact
    row = (
        await session.execute(
            _CUSTOMER_HISTORY,
            {
                "customer": complaint.customer.customer_id,
                "currency": currency,
                "grants_since": now - timedelta(days=limits.window_days),
                "channels_since": now - timedelta(hours=limits.velocity_hours),
                "email": email,
                "phone": phone,
                "order_ref": order_ref,
            },
        )
    ).one()
    return CustomerHistory(
        grants_in_window=int(row.grants),
        value_in_window=Decimal(row.value),
        channels_in_velocity_window=frozenset(row.channels or ()) | {complaint.channel},
        customers_sharing_contact=1 + int(row.others_sharing_contact),
        order_already_compensated=bool(row.order_compensated),
    )


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


async def forget_contact(session: AsyncConnection, complaint_id: UUID) -> None:
    """Erasure: a contact's digest still identifies the customer; decisions and amounts stay."""
    await session.execute(
        update(complaints)
        .where(complaints.c.complaint_id == complaint_id)
        .values(email_sha256=None, phone_sha256=None)
    )
