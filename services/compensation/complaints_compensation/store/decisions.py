"""Reading and writing compensation decisions, and the customer history the abuse rules need."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypedDict
from uuid import UUID

from sqlalchemy import BindParameter, Row, Select, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import ERASED, ComplaintCreatedV1, DecisionStatus, Offer
from complaints_compensation.domain.policy import Authority, CustomerHistory
from complaints_compensation.domain.rules import AbuseLimits, Role
from complaints_compensation.store.tables import complaints, decisions, policies

LIVE = ("granted", "pending_approval", "held")
VoucherStatus = Literal["active", "redeemed", "expired", "clawed_back"]


class Signoff(TypedDict):
    """One sign-off of a decision, as the `signoffs` column keeps it (four eyes, the audit trail)."""

    by: str
    role: Role
    action: Literal["approve", "reject"]
    reason: str | None
    at: str


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A row of `decisions`: what was offered, its status, who decided under which rule."""

    id: UUID
    client_id: str
    complaint_id: UUID
    customer_id: str
    status: DecisionStatus
    offer: Offer
    value_amount: Decimal
    cost_amount: Decimal
    currency: str
    rule_id: str
    offer_rule_id: str | None
    policy_version: str
    authority: Authority
    proposed_by: str
    reason: str | None
    within_frontline: bool
    category: str | None
    channel: str | None
    order_ref: str | None
    decided_at: datetime
    # The complaint's trace, continued when the voucher expires days later.
    trace_context: dict[str, str]
    granted_by: str | None = None
    settled_at: datetime | None = None
    voucher_code: str | None = None
    voucher_expires_at: datetime | None = None
    voucher_status: VoucherStatus | None = None
    voucher_changed_at: datetime | None = None
    voucher_changed_by: str | None = None
    voucher_reason: str | None = None
    signoffs: tuple[Signoff, ...] = ()

    @classmethod
    def of(cls, row: Row[Any]) -> DecisionRecord:
        values = dict(row._mapping)
        offer, signoffs = Offer.model_validate(values.pop("offer")), tuple(values.pop("signoffs"))
        return cls(**values, offer=offer, signoffs=signoffs)

    def columns(self) -> dict[str, object]:
        """The record as the table's columns (the offer and the sign-offs as their JSON)."""
        values: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        return values | {"offer": self.offer.model_dump(mode="json"), "signoffs": list(self.signoffs)}


@dataclass(frozen=True, slots=True)
class KnownComplaint:
    """What compensation knows of a complaint: its complaint.created data without contact details,
    and the contact digests the abuse rules compare."""

    complaint: ComplaintCreatedV1
    email_sha256: str | None
    phone_sha256: str | None

    @classmethod
    def filed(cls, complaint: ComplaintCreatedV1) -> KnownComplaint:
        customer = complaint.customer
        return cls(complaint, contact_digest(customer.email), contact_digest(customer.phone))


def contact_digest(value: str | None) -> str | None:
    """Normalised, hashed: enough to see an e-mail or phone shared across customers, nothing more."""
    if not value:
        return None
    normalised = "".join(value.split()).lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


async def lock_customer(session: AsyncConnection, client_id: str, customer_id: str) -> None:
    """Serialise decisions for one customer of one client (across replicas) so caps cannot be
    raced past: proposals, automatic decisions and approvals alike."""
    key = f"comp:{client_id}:{customer_id}"
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:c))"), {"c": key})


# Built once, the values bound per execution: every new complaint runs these (`make profile`).
_REMEMBER = insert(complaints).on_conflict_do_nothing(index_elements=[complaints.c.complaint_id])
_INSERT_DECISION = (
    insert(decisions)
    .on_conflict_do_nothing(
        index_elements=[decisions.c.complaint_id], index_where=text("proposed_by = 'auto'")
    )
    .returning(decisions.c.id)
)


async def remember_complaint(session: AsyncConnection, complaint: ComplaintCreatedV1) -> None:
    snapshot = complaint.model_dump(mode="json")
    snapshot["customer"] = {"customer_id": complaint.customer.customer_id, "tier": complaint.customer.tier}
    values = {
        "complaint_id": complaint.complaint_id,
        "client_id": complaint.client_id,
        "customer_id": complaint.customer.customer_id,
        "channel": complaint.channel,
        "email_sha256": contact_digest(complaint.customer.email),
        "phone_sha256": contact_digest(complaint.customer.phone),
        "snapshot": snapshot,
        "filed_at": complaint.filed_at,
    }
    await session.execute(_REMEMBER, values)


async def known_complaint(
    session: AsyncConnection, client_id: str, complaint_id: UUID
) -> KnownComplaint | None:
    query = select(complaints).where(
        complaints.c.complaint_id == complaint_id, complaints.c.client_id == client_id
    )
    row = (await session.execute(query)).first()
    if row is None:
        return None
    return KnownComplaint(ComplaintCreatedV1.model_validate(row.snapshot), row.email_sha256, row.phone_sha256)


def _customer_history_query() -> Select[Any]:
    """Everything the abuse rules ask of a customer's past, in one round trip (built once; the
    values are bound per execution). Only the client's own rows: customer ids, contacts and order
    tags are the client's namespace. Caps count every live decision (granted or waiting), in every
    currency; `exclude` leaves out the decision being approved."""
    client: BindParameter[str] = bindparam("client")
    customer: BindParameter[str] = bindparam("customer")
    live = (decisions.c.client_id == client) & (decisions.c.customer_id == customer)
    live &= decisions.c.status.in_(LIVE) & (decisions.c.value_amount > 0)
    live &= func.coalesce(decisions.c.settled_at, decisions.c.decided_at) >= bindparam("grants_since")
    live &= decisions.c.id.is_distinct_from(bindparam("exclude"))
    per_currency = (
        select(decisions.c.currency, func.sum(decisions.c.value_amount).label("total"))
        .where(live)
        .group_by(decisions.c.currency)
        .subquery()
    )
    # A missing digest binds NULL, and `column = NULL` matches nothing.
    shares_contact = or_(
        complaints.c.email_sha256 == bindparam("email"), complaints.c.phone_sha256 == bindparam("phone")
    )
    mine = complaints.c.client_id == client
    return select(
        select(func.count()).where(live, decisions.c.status == "granted").scalar_subquery().label("grants"),
        select(func.count()).where(live).scalar_subquery().label("live"),
        select(func.jsonb_object_agg(per_currency.c.currency, per_currency.c.total))
        .scalar_subquery()
        .label("values"),
        select(func.array_agg(func.distinct(complaints.c.channel)))
        .where(
            mine, complaints.c.customer_id == customer, complaints.c.filed_at >= bindparam("channels_since")
        )
        .scalar_subquery()
        .label("channels"),
        select(func.count(func.distinct(complaints.c.customer_id)))
        .where(mine, shares_contact, complaints.c.customer_id != customer)
        .scalar_subquery()
        .label("others_sharing_contact"),
        select(decisions.c.id)
        .where(
            decisions.c.client_id == client,
            decisions.c.order_ref == bindparam("order_ref"),
            decisions.c.status == "granted",
            decisions.c.value_amount > 0,
        )
        .limit(1)
        .exists()
        .label("order_compensated"),
        # What the customer's earlier complaints here teach (the customer value rules).
        select(func.count())
        .where(mine, complaints.c.customer_id == customer, complaints.c.filed_at < bindparam("filed_at"))
        .scalar_subquery()
        .label("prior_complaints"),
        select(func.min(complaints.c.filed_at))
        .where(mine, complaints.c.customer_id == customer)
        .scalar_subquery()
        .label("first_seen"),
        # The active policy's version, in the same snapshot: the caller checks that the policy it
        # judged the history by is still the active one, and so needs no statement of its own.
        select(policies.c.version).where(policies.c.active).scalar_subquery().label("active_policy"),
    )


_CUSTOMER_HISTORY = _customer_history_query()


@dataclass(frozen=True, slots=True)
class Past:
    """The customer's history within the policy's windows, and the policy version active when read."""

    history: CustomerHistory
    active_policy: str | None


async def customer_history(
    session: AsyncConnection,
    known: KnownComplaint,
    limits: AbuseLimits,
    now: datetime,
    order_ref: str | None,
    exclude: UUID | None = None,
) -> Past:
    complaint = known.complaint
    row = (
        await session.execute(
            _CUSTOMER_HISTORY,
            {
                "client": complaint.client_id,
                "customer": complaint.customer.customer_id,
                "grants_since": now - timedelta(days=limits.window_days),
                "channels_since": now - timedelta(hours=limits.velocity_hours),
                "email": known.email_sha256,
                "phone": known.phone_sha256,
                "order_ref": order_ref,
                "exclude": exclude,
                "filed_at": complaint.filed_at,
            },
        )
    ).one()
    history = CustomerHistory(
        grants_in_window=int(row.grants),
        live_in_window=int(row.live),
        value_by_currency={currency: Decimal(str(total)) for currency, total in (row.values or {}).items()},
        channels_in_velocity_window=frozenset(row.channels or ()) | {complaint.channel},
        customers_sharing_contact=1 + int(row.others_sharing_contact),
        order_already_compensated=bool(row.order_compensated),
        prior_complaints=int(row.prior_complaints),
        first_seen=row.first_seen,
    )
    return Past(history, row.active_policy)


async def insert_decision(session: AsyncConnection, decision: DecisionRecord) -> bool:
    """Store a decision; False when the complaint already has its automatic one (nothing is written)."""
    return (await session.execute(_INSERT_DECISION, decision.columns())).first() is not None


async def has_live_decision(session: AsyncConnection, complaint_id: UUID) -> bool:
    """Whether the complaint (known to be the caller's) has a live compensation."""
    query = select(decisions.c.id).where(
        decisions.c.complaint_id == complaint_id, decisions.c.status.in_(LIVE), decisions.c.value_amount > 0
    )
    return (await session.execute(query.limit(1))).first() is not None


async def decision_for(session: AsyncConnection, client_id: str, complaint_id: UUID) -> DecisionRecord | None:
    """The complaint's latest decision."""
    query = (
        select(decisions)
        .where(decisions.c.complaint_id == complaint_id, decisions.c.client_id == client_id)
        .order_by(decisions.c.decided_at.desc())
    )
    row = (await session.execute(query.limit(1))).first()
    return DecisionRecord.of(row) if row else None


async def decision_by_id(
    session: AsyncConnection, client_id: str, decision_id: UUID, *, for_update: bool = False
) -> DecisionRecord | None:
    """The client's decision; None alike for "absent" and "another client's"."""
    query = select(decisions).where(decisions.c.id == decision_id, decisions.c.client_id == client_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return DecisionRecord.of(row) if row else None


async def _update(session: AsyncConnection, decision: DecisionRecord, *names: str) -> None:
    columns = decision.columns()
    values = {name: columns[name] for name in names}
    await session.execute(update(decisions).where(decisions.c.id == decision.id).values(values))


async def save_grant(session: AsyncConnection, decision: DecisionRecord) -> None:
    """A waiting decision granted on approval: who granted it, when, its voucher, its sign-offs."""
    await _update(
        session,
        decision,
        "status",
        "authority",
        "granted_by",
        "settled_at",
        "voucher_code",
        "voucher_expires_at",
        "voucher_status",
        "signoffs",
    )


async def save_signoff(session: AsyncConnection, decision: DecisionRecord) -> None:
    """A sign-off that did not grant: rejected, or passed on to the next level."""
    await _update(session, decision, "status", "reason", "signoffs", "settled_at")


async def save_voucher_change(session: AsyncConnection, decision: DecisionRecord) -> None:
    """A voucher redeemed, expired or clawed back, and who did it and why."""
    await _update(
        session, decision, "voucher_status", "voucher_changed_at", "voucher_changed_by", "voucher_reason"
    )


def search(
    client_id: str,
    *,
    customer_id: str | None = None,
    status: str | None = None,
    complaint_id: UUID | None = None,
    rule_id: str | None = None,
) -> Select[Any]:
    query = select(decisions).where(decisions.c.client_id == client_id)
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
) -> list[DecisionRecord]:
    ordered = query.order_by(decisions.c.decided_at.desc(), decisions.c.id).limit(limit).offset(offset)
    return [DecisionRecord.of(row) for row in await session.execute(ordered)]


_GRANTED_SPEND = select(func.coalesce(func.sum(decisions.c.cost_amount), 0)).where(
    decisions.c.client_id == bindparam("client"),
    decisions.c.status == "granted",
    decisions.c.settled_at >= bindparam("since"),
    decisions.c.currency == bindparam("currency"),
)


async def granted_spend(session: AsyncConnection, client_id: str, since: datetime, currency: str) -> Decimal:
    """The client's granted cost since `since`: the budget is each client's own."""
    values = {"client": client_id, "since": since, "currency": currency}
    return Decimal((await session.execute(_GRANTED_SPEND, values)).scalar_one())


async def forget_contact(session: AsyncConnection, complaint_id: UUID) -> None:
    """Erasure: a contact's digest still identifies the customer; decisions and amounts stay."""
    await session.execute(
        update(complaints)
        .where(complaints.c.complaint_id == complaint_id)
        .values(email_sha256=None, phone_sha256=None)
    )
    await session.execute(
        update(decisions)
        .where(decisions.c.complaint_id == complaint_id, decisions.c.voucher_reason.is_not(None))
        .values(voucher_reason=ERASED)
    )
