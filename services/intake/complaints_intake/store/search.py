"""Finding complaints: filters, sorting and keyset pagination on (filed_at, id)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from sqlalchemy import Text, and_, cast, func, literal_column, or_, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from complaints_intake.store.tables import complaints


@dataclass(frozen=True, slots=True)
class Filters:
    client_id: str
    include_confidential: bool
    status: list[str] = field(default_factory=list)
    category: str | None = None
    product: str | None = None
    channel: str | None = None
    severity: str | None = None
    customer_id: str | None = None
    agent_id: str | None = None
    filed_from: datetime | None = None
    filed_to: datetime | None = None
    confidential: bool | None = None
    overdue_at: datetime | None = None
    on_time_at: datetime | None = None
    due_before: datetime | None = None
    crm_reference: str | None = None
    reference: str | None = None
    email: str | None = None
    phone: str | None = None
    tag: str | None = None
    text: str | None = None


# Free text is matched with PostgreSQL full-text search in the `simple` configuration: descriptions
# come in every customer's language (Russian, Persian...), and a language-specific stemmer would
# mangle the others. These expressions are indexed as they stand here (migration 0005_complaint_search):
# change one and its index together. Literals, not bound values: an index matches only the very
# expression it was built on.
description_words = func.to_tsvector(literal_column("'simple'"), complaints.c.description)
customer_email = func.lower(complaints.c.customer.op("->>")(literal_column("'email'")))
# A phone number is compared by its digits (and a leading +): "+44 20 7946-0018" finds +442079460018.
customer_phone = func.regexp_replace(
    complaints.c.customer.op("->>")(literal_column("'phone'")),
    literal_column("'[^0-9+]'"),
    literal_column("''"),
    literal_column("'g'"),
)


def phone_digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit() or ch == "+")


@dataclass(frozen=True, slots=True)
class ComplaintListing:
    """A complaint in a list: enough to pick it, without the customer's words or contact details."""

    id: UUID
    reference: str
    status: str
    crm_reference: str | None
    customer_id: str
    channel: str
    category: str
    product: str | None
    severity: str
    filed_at: datetime
    agent_id: str | None
    confidential: bool
    escalation_level: int
    waiting_on_customer: bool
    next_due_at: datetime | None
    repeat_of: UUID | None
    repeat_kind: str | None
    abusive_conduct_at: datetime | None


_LISTED = [complaints.c[name] for name in ComplaintListing.__dataclass_fields__]


@dataclass(frozen=True, slots=True)
class Position:
    """Where the previous page ended."""

    filed_at: datetime
    id: UUID


def _conditions(f: Filters) -> list[ColumnElement[bool]]:
    c = complaints.c
    conditions: list[ColumnElement[bool]] = [c.client_id == f.client_id]
    if not f.include_confidential:
        conditions.append(c.confidential.is_(False))
    if f.status:
        conditions.append(c.status.in_(f.status))
    exact = {
        c.category: f.category,
        c.product: f.product,
        c.channel: f.channel,
        c.severity: f.severity,
        c.customer_id: f.customer_id,
        c.agent_id: f.agent_id,
        c.crm_reference: f.crm_reference,
        c.reference: f.reference,
    }
    conditions.extend(column == value for column, value in exact.items() if value is not None)
    if f.filed_from is not None:
        conditions.append(c.filed_at >= f.filed_from)
    if f.filed_to is not None:
        conditions.append(c.filed_at < f.filed_to)
    if f.confidential is not None:
        conditions.append(c.confidential.is_(f.confidential))
    if f.email is not None:
        conditions.append(customer_email == f.email.lower())
    if f.phone is not None:
        conditions.append(customer_phone == phone_digits(f.phone))
    if f.tag is not None:
        conditions.append(c.tags.op("@>")(cast([f.tag], ARRAY(Text))))  # `@>`: the GIN index's operator
    if f.text is not None:
        words = func.websearch_to_tsquery(literal_column("'simple'"), f.text)
        conditions.append(description_words.op("@@")(words))
    if f.overdue_at is not None:
        conditions.append(c.next_due_at < f.overdue_at)
    if f.on_time_at is not None:
        # Not overdue: nothing running is past due (met, paused, or due later).
        conditions.append(or_(c.next_due_at.is_(None), c.next_due_at >= f.on_time_at))
    if f.due_before is not None:
        conditions.append(c.next_due_at < f.due_before)
    return conditions


async def find_complaints(
    session: AsyncConnection, f: Filters, *, newest_first: bool, limit: int, after: Position | None
) -> list[ComplaintListing]:
    c = complaints.c
    conditions = _conditions(f)
    if after is not None:
        key, bound = tuple_(c.filed_at, c.id), tuple_(after.filed_at, after.id)
        conditions.append(key < bound if newest_first else key > bound)
    order = (c.filed_at.desc(), c.id.desc()) if newest_first else (c.filed_at.asc(), c.id.asc())
    rows = await session.execute(select(*_LISTED).where(and_(*conditions)).order_by(*order).limit(limit))
    return [ComplaintListing(*row) for row in rows]


async def severities_of(
    session: AsyncConnection, client_id: str, customer_id: str, since: datetime
) -> list[tuple[str, datetime]]:
    c = complaints.c
    rows = await session.execute(
        select(c.severity, c.filed_at).where(
            c.client_id == client_id, c.customer_id == customer_id, c.filed_at >= since
        )
    )
    return [(r.severity, r.filed_at) for r in rows]


async def abusive_conduct_flagged(session: AsyncConnection, client_id: str, customer_id: str) -> bool:
    """Whether an agent flagged abusive conduct on any of the customer's complaints (ever)."""
    c = complaints.c
    query = select(c.id).where(
        c.client_id == client_id, c.customer_id == customer_id, c.abusive_conduct_at.is_not(None)
    )
    return (await session.execute(query.limit(1))).first() is not None


async def count_complaints(
    session: AsyncConnection, f: Filters, open_statuses: list[str]
) -> tuple[int, int, int]:
    """(total, open, linked as repeat or duplicate) of the complaints matching `f`."""
    c = complaints.c
    row = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(c.status.in_(open_statuses)),
                func.count().filter(c.repeat_of.is_not(None)),
            ).where(and_(*_conditions(f)))
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])
