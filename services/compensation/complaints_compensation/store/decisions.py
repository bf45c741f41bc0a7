"""Reading and writing compensation decisions, and the customer history the abuse rules need."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypedDict
from uuid import UUID

import asyncpg
from sqlalchemy import Row, Select, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.db import driver
from complaints_common.events.contracts import (
    ERASED,
    ComplaintCreatedV1,
    CustomerContact,
    DecisionStatus,
    Offer,
)
from complaints_common.messaging import OUTBOX_COLUMNS, outbox_values
from complaints_compensation.domain.policy import Authority, CustomerHistory
from complaints_compensation.domain.rules import AbuseLimits, Role
from complaints_compensation.store.tables import SCHEMA, complaints, decisions

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


# Every new complaint runs these, so they go straight to the driver, built once: through SQLAlchemy,
# building and executing a statement cost more CPU than running it (`make profile`). They name
# only this module's tables; no input is ever part of them.
_DECISIONS = f'"{SCHEMA}".decisions'
_COMPLAINTS = f'"{SCHEMA}".complaints'

# The complaint remembered under its customer's lock, in one statement: the lock is taken first (the
# row comes from its subquery), and the next statement, the history, reads after it.
_LOCK_AND_REMEMBER = (
    f"INSERT INTO {_COMPLAINTS} (complaint_id, client_id, customer_id, channel, email_sha256, "  # noqa: S608
    "phone_sha256, snapshot, filed_at) "
    "SELECT $1::uuid, $2::text, $3::text, $4::text, $5::text, $6::text, $7::jsonb, $8::timestamptz "
    "FROM (SELECT pg_advisory_xact_lock(hashtext($9))) AS locked "
    "ON CONFLICT (complaint_id) DO NOTHING"
)


# The snapshot keeps of the customer only the id and the tier.
_CONTACT_DETAILS = {"customer": set(CustomerContact.model_fields) - {"customer_id", "tier"}}


def _customer_lock_key(client_id: str, customer_id: str) -> str:
    return f"comp:{client_id}:{customer_id}"


async def lock_customer(session: AsyncConnection, client_id: str, customer_id: str) -> None:
    """Serialise decisions for one customer of one client (across replicas) so caps cannot be
    raced past: proposals, automatic decisions and approvals alike."""
    key = _customer_lock_key(client_id, customer_id)
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:c))"), {"c": key})


async def lock_and_remember(session: AsyncConnection, complaint: ComplaintCreatedV1) -> None:
    """A new complaint: its customer locked (as `lock_customer`), then the complaint remembered
    without contact details (a redelivered one is there already)."""
    customer = complaint.customer
    await (await driver(session)).execute(
        _LOCK_AND_REMEMBER,
        complaint.complaint_id,
        complaint.client_id,
        customer.customer_id,
        complaint.channel,
        contact_digest(customer.email),
        contact_digest(customer.phone),
        complaint.model_dump_json(exclude=_CONTACT_DETAILS),  # pydantic's encoder: twice as fast
        complaint.filed_at,
        _customer_lock_key(complaint.client_id, customer.customer_id),
    )


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


# Everything the abuse rules ask of a customer's past, in one round trip. Only the client's own
# rows: customer ids, contacts and order tags are the client's namespace. Caps count every live
# decision (granted or waiting), in every currency; `exclude` ($4) leaves out the decision being
# approved. A missing digest or order tag binds NULL, and `column = NULL` matches nothing.
_LIVE = ", ".join(f"'{status}'" for status in LIVE)
_CUSTOMER_HISTORY = (
    f"WITH live AS (SELECT status, currency, value_amount FROM {_DECISIONS} "  # noqa: S608
    f"WHERE client_id = $1 AND customer_id = $2 AND status IN ({_LIVE}) AND value_amount > 0 "
    "AND coalesce(settled_at, decided_at) >= $3 AND id IS DISTINCT FROM $4) "
    "SELECT (SELECT count(*) FROM live WHERE status = 'granted') AS grants, "
    "(SELECT count(*) FROM live) AS live, "
    "(SELECT jsonb_object_agg(currency, total) FROM (SELECT currency, sum(value_amount) AS total "
    "FROM live GROUP BY currency) AS per_currency) AS value_by_currency, "
    f"(SELECT array_agg(DISTINCT channel) FROM {_COMPLAINTS} "
    "WHERE client_id = $1 AND customer_id = $2 AND filed_at >= $5) AS channels, "
    f"(SELECT count(DISTINCT customer_id) FROM {_COMPLAINTS} "
    "WHERE client_id = $1 AND (email_sha256 = $6 OR phone_sha256 = $7) AND customer_id <> $2) "
    "AS others_sharing_contact, "
    f"EXISTS (SELECT FROM {_DECISIONS} WHERE client_id = $1 AND order_ref = $8 "
    "AND status = 'granted' AND value_amount > 0) AS order_compensated, "
    # What the customer's earlier complaints here teach (the customer value rules).
    f"(SELECT count(*) FROM {_COMPLAINTS} "
    "WHERE client_id = $1 AND customer_id = $2 AND filed_at < $9) AS prior_complaints, "
    f"(SELECT min(filed_at) FROM {_COMPLAINTS} WHERE client_id = $1 AND customer_id = $2) AS first_seen, "
    # The active policy's version, in the same snapshot: the caller checks that the policy it
    # judged the history by is still the active one, and so needs no statement of its own.
    f'(SELECT version FROM "{SCHEMA}".policies WHERE active) AS active_policy'
)


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
    row = await (await driver(session)).fetchrow(
        _CUSTOMER_HISTORY,
        complaint.client_id,
        complaint.customer.customer_id,
        now - timedelta(days=limits.window_days),
        exclude,
        now - timedelta(hours=limits.velocity_hours),
        known.email_sha256,
        known.phone_sha256,
        order_ref,
        complaint.filed_at,
    )
    history = CustomerHistory(
        grants_in_window=int(row["grants"]),
        live_in_window=int(row["live"]),
        value_by_currency={
            currency: Decimal(str(total)) for currency, total in (row["value_by_currency"] or {}).items()
        },
        channels_in_velocity_window=frozenset(row["channels"] or ()) | {complaint.channel},
        customers_sharing_contact=1 + int(row["others_sharing_contact"]),
        order_already_compensated=bool(row["order_compensated"]),
        prior_complaints=int(row["prior_complaints"]),
        first_seen=row["first_seen"],
    )
    return Past(history, row["active_policy"])


_RECORDED_COLUMNS = tuple(field.name for field in fields(DecisionRecord))
_JSON_COLUMNS = frozenset({"offer", "signoffs", "trace_context"})
_SPEND = f'"{SCHEMA}".granted_spend'


def budget_period(at: datetime) -> date:
    """The budget period a grant settled at `at` counts in: its month, by the first day (UTC)."""
    return at.astimezone(UTC).date().replace(day=1)


def _spend_raised(grants: str) -> str:
    """The upsert that adds grants' cost to their client's spend in their currency and period and
    returns the new total; `grants` selects (client_id, currency, period, cost). A concurrent grant
    of the same client waits for the row (held to the commit) and then adds to the total this one
    committed: no increment is lost, and each grant reads the total with every earlier grant in it."""
    return (
        f"INSERT INTO {_SPEND} AS spend (client_id, currency, period, amount) {grants} "
        "ON CONFLICT (client_id, currency, period) DO UPDATE SET amount = spend.amount + excluded.amount "
        "RETURNING spend.amount"
    )


# A decision, the events it publishes (outbox rows, in order: `seq` follows the insert's order) and,
# for a grant, its cost added to the client's spend (the budget's running total): one statement.
# The events and the cost are written only with the decision, so a complaint's automatic decision
# is published and counted once.
_N = len(_RECORDED_COLUMNS)
_CLIENT, _CURRENCY, _COST = (
    _RECORDED_COLUMNS.index(name) + 1 for name in ("client_id", "currency", "cost_amount")
)
# The outbox rows come as one array per column of OUTBOX_COLUMNS (`outbox_values`' order), as text
# but the id; the JSON ones are cast back.
_OUTBOX_JSON = frozenset({"payload", "headers"})
_OUTBOX_ARRAYS = ", ".join(
    f"${_N + n}::{'uuid' if column == 'id' else 'text'}[]" for n, column in enumerate(OUTBOX_COLUMNS, 1)
)
_OUTBOX_SELECTED = ", ".join(
    f"e.{column}::jsonb" if column in _OUTBOX_JSON else f"e.{column}" for column in OUTBOX_COLUMNS
)
_PERIOD = _N + len(OUTBOX_COLUMNS) + 1  # the grant's budget period; NULL for any other decision
_RECORD_DECISION = (
    f"WITH decision AS (INSERT INTO {_DECISIONS} ({', '.join(_RECORDED_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(f'${n}' for n in range(1, _N + 1))}) "
    "ON CONFLICT (complaint_id) WHERE proposed_by = 'auto' DO NOTHING RETURNING id), "
    f'published AS (INSERT INTO "{SCHEMA}".outbox ({", ".join(OUTBOX_COLUMNS)}) '
    f"SELECT {_OUTBOX_SELECTED} FROM unnest({_OUTBOX_ARRAYS}) WITH ORDINALITY "
    f"AS e({', '.join(OUTBOX_COLUMNS)}, position) "
    "WHERE EXISTS (SELECT FROM decision) ORDER BY e.position), "
    "spent AS ("
    + _spend_raised(
        f"SELECT ${_CLIENT}, ${_CURRENCY}, ${_PERIOD}::date, ${_COST} "  # noqa: S608
        f"WHERE ${_PERIOD}::date IS NOT NULL AND EXISTS (SELECT FROM decision)"
    )
    + ") SELECT EXISTS (SELECT FROM decision) AS recorded, (SELECT amount FROM spent) AS spent"
)
_RAISE_SPEND = _spend_raised("VALUES ($1, $2, $3, $4)")


class DecisionConflict(Exception):
    """The complaint or its order already has a compensation (a unique index refused the decision)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """A decision stored with its events; `spent`: for a grant, the client's granted cost in its
    currency this budget period, this grant included (None for any other decision)."""

    spent: Decimal | None


def _per_column(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Outbox rows (`outbox_values`) as one list per column, for `unnest`."""
    return [[row[index] for row in rows] for index in range(len(OUTBOX_COLUMNS))]


async def record_decision(
    session: AsyncConnection, decision: DecisionRecord, events: Sequence[dict[str, Any]]
) -> Recorded | None:
    """Store a decision and its outbox rows (`Outbox.row`), and a grant's cost in its client's
    spend; None when the complaint already has its automatic one (nothing is written)."""
    columns = decision.columns()
    values = [
        json.dumps(columns[name]) if name in _JSON_COLUMNS else columns[name] for name in _RECORDED_COLUMNS
    ]
    settled = decision.settled_at
    period = budget_period(settled) if decision.status == "granted" and settled is not None else None
    try:
        row = await (await driver(session)).fetchrow(
            _RECORD_DECISION,
            *values,
            *_per_column([outbox_values(event) for event in events]),
            period,
        )
    except asyncpg.UniqueViolationError as exc:
        raise DecisionConflict from exc
    if not row["recorded"]:
        return None
    return Recorded(None if row["spent"] is None else Decimal(row["spent"]))


async def raise_spend(session: AsyncConnection, granted: DecisionRecord) -> Decimal:
    """A waiting decision granted (`save_grant`): its cost added to its client's spend in its
    currency and period; the new total."""
    assert granted.settled_at is not None  # a grant has settled
    period = budget_period(granted.settled_at)
    total = await (await driver(session)).fetchval(
        _RAISE_SPEND, granted.client_id, granted.currency, period, granted.cost_amount
    )
    return Decimal(total)


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
