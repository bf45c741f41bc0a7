"""Filing's two statements, straight to the driver (application/filing.py).

One reads all that filing decides on: the first response under the Idempotency-Key, the client's
deadline settings, the customer's earlier complaints and their extreme ones. The other writes it
all: the complaint, its first history row, `complaint.created` in the outbox and the response
under the key. Each commits by itself (`Database.autocommit`): the write is one statement, so all
of it or none of it, without the BEGIN and COMMIT round trips.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from complaints_common.messaging import OUTBOX_COLUMNS, outbox_values
from complaints_intake.domain.complaint import ComplaintDraft, Customer, Status
from complaints_intake.domain.deadlines import Choice, DueTime, Selection, next_due
from complaints_intake.domain.journey import Journey
from complaints_intake.domain.repeats import Earlier, RepeatLink
from complaints_intake.store.complaints import INSERT_HISTORY, ComplaintRecord
from complaints_intake.store.idempotency import StoredResponse, stored_response_of
from complaints_intake.store.regulated import TENANT_WIDE
from complaints_intake.store.tables import SCHEMA

CENTS = Decimal("0.01")  # the scale of the amount column (NUMERIC(14, 2))
# How many earlier complaints of the customer repeat detection looks at, most recent first.
EARLIER_LIMIT = 200

# $1 client, $2 Idempotency-Key (NULL: none sent), $3 category (case-folded), $4 customer,
# $5 since when earlier complaints count as repeats, $6 and $7 since when and which severities
# count as extreme. Each aggregate gives one row, so the key and settings are LEFT JOINed to it.
_BASIS = f"""
SELECT k.request_hash, k.status_code, k.response, k.location,
       t.profile AS tenant_profile, t.calendar AS tenant_calendar,
       c.profile AS category_profile, c.calendar AS category_calendar,
       e.ids, e.categories, e.products, e.filed, x.severities, x.filed AS extreme_filed
FROM (
    SELECT array_agg(r.id) AS ids, array_agg(r.category) AS categories,
           array_agg(r.product) AS products, array_agg(r.filed_at) AS filed
    FROM (
        SELECT id, category, product, filed_at FROM "{SCHEMA}".complaints
        WHERE client_id = $1 AND customer_id = $4 AND filed_at >= $5
        ORDER BY filed_at DESC LIMIT {EARLIER_LIMIT}
    ) AS r
) AS e
CROSS JOIN (
    SELECT array_agg(severity) AS severities, array_agg(filed_at) AS filed
    FROM "{SCHEMA}".complaints
    WHERE client_id = $1 AND customer_id = $4 AND filed_at >= $6 AND severity = ANY($7::text[])
) AS x
LEFT JOIN "{SCHEMA}".idempotency_keys AS k ON k.client_id = $1 AND k.key = $2
LEFT JOIN "{SCHEMA}".deadline_settings AS t ON t.client_id = $1 AND t.category = '{TENANT_WIDE}'
LEFT JOIN "{SCHEMA}".deadline_settings AS c ON c.client_id = $1 AND c.category = $3
"""


@dataclass(frozen=True, slots=True)
class FilingBasis:
    """What a new complaint is decided on."""

    stored: StoredResponse | None  # the first response under the key, when there is one
    tenant: Selection  # the client's tenant-wide deadline settings
    category: Selection  # and those for the complaint's category
    earlier: list[Earlier]
    extreme: list[tuple[str, datetime]]  # (severity, filed at) of the customer's extreme complaints


async def filing_basis(
    connection: asyncpg.Connection,
    client_id: str,
    key: str | None,
    draft: ComplaintDraft,
    *,
    repeats_since: datetime,
    extreme_since: datetime,
    extreme_severities: frozenset[str],
) -> FilingBasis:
    row = await connection.fetchrow(
        _BASIS,
        client_id,
        key,
        draft.category.casefold(),
        draft.customer.customer_id,
        repeats_since,
        extreme_since,
        sorted(extreme_severities),
    )
    assert row is not None  # the aggregates make one row
    earlier = zip(
        row["ids"] or (), row["categories"] or (), row["products"] or (), row["filed"] or (), strict=True
    )
    return FilingBasis(
        stored=stored_response_of(row) if row["request_hash"] is not None else None,
        tenant=Selection(row["tenant_profile"], row["tenant_calendar"]),
        category=Selection(row["category_profile"], row["category_calendar"]),
        earlier=[Earlier(*e) for e in earlier],
        extreme=list(zip(row["severities"] or (), row["extreme_filed"] or (), strict=True)),
    )


def filed_complaint(
    *,
    complaint_id: UUID,
    reference: str,
    client_id: str,
    filed_at: datetime,
    draft: ComplaintDraft,
    link: RepeatLink | None,
    profile: Choice,
    calendar: Choice,
    due_times: list[DueTime],
) -> ComplaintRecord:
    """The complaint as `file` stores it and `get_complaint` will read it back: amounts at the
    column's two places, times in UTC, JSON as it round-trips, the columns' defaults."""
    money = draft.amount_at_stake
    stored_due = [d.as_dict() for d in due_times]
    next_due_at = next_due(due_times)
    return ComplaintRecord(
        id=complaint_id,
        reference=reference,
        client_id=client_id,
        crm_reference=draft.crm_reference,
        customer_id=draft.customer.customer_id,
        customer=Customer.model_validate(draft.customer.model_dump(mode="json")),
        channel=draft.channel,
        category=draft.category,
        product=draft.product,
        severity=draft.severity,
        description=draft.description,
        amount=money.amount.quantize(CENTS) if money else None,
        currency=money.currency if money else None,
        occurred_at=draft.occurred_at.astimezone(UTC) if draft.occurred_at else None,
        filed_at=filed_at,
        agent_id=draft.agent_id,
        tags=tuple(draft.tags),
        confidential=draft.confidential,
        status=Status.RECEIVED,
        updated_at=filed_at,
        escalation_level=0,
        waiting_on_customer=False,
        reopen_count=0,
        root_cause=None,
        acknowledged_at=None,
        resolved_at=None,
        closed_at=None,
        abusive_conduct_at=None,
        abusive_conduct_by=None,
        journey=Journey(),
        deadline_profile=profile.name,
        deadline_profile_reason=profile.reason,
        calendar=calendar.name,
        calendar_reason=calendar.reason,
        deadlines=tuple(DueTime.from_dict(d) for d in stored_due),
        next_due_at=next_due_at.astimezone(UTC) if next_due_at else None,
        repeat_of=link.repeat_of if link else None,
        repeat_kind=link.kind.value if link else None,
        outcome=None,
        redress_amount=None,
        redress_currency=None,
    )


# The columns `file` writes; the others take their defaults (as `filed_complaint` shows them).
_COMPLAINT_COLUMNS = (
    "id",
    "reference",
    "client_id",
    "crm_reference",
    "customer_id",
    "customer",
    "channel",
    "category",
    "product",
    "severity",
    "description",
    "amount",
    "currency",
    "occurred_at",
    "filed_at",
    "agent_id",
    "tags",
    "confidential",
    "status",
    "updated_at",
    "repeat_of",
    "repeat_kind",
    "deadline_profile",
    "deadline_profile_reason",
    "calendar",
    "calendar_reason",
    "deadlines",
    "next_due_at",
)
# The history row comes first, $1-$9 as INSERT_HISTORY takes them; the complaint shares its id,
# time and status, and its other columns follow, then the outbox row's, then the key's.
_SHARED = {"id": 1, "filed_at": 2, "updated_at": 2, "status": 6}
_OWN = [name for name in _COMPLAINT_COLUMNS if name not in _SHARED]
_AT = {**{name: n for n, name in enumerate(_OWN, 10)}, **_SHARED}
_OUTBOX = 10 + len(_OWN)
_KEY = _OUTBOX + len(OUTBOX_COLUMNS)


def _placeholders(numbers: Iterable[int]) -> str:
    return ", ".join(f"${n}" for n in numbers)


# Data-modifying CTEs all run, whether or not the statement reads them; one failing (the key
# taken, a reference taken) undoes them all.
_FILE_WITH = f"""
    audit AS ({INSERT_HISTORY}),
    event AS (
        INSERT INTO "{SCHEMA}".outbox ({", ".join(OUTBOX_COLUMNS)})
        VALUES ({_placeholders(range(_OUTBOX, _KEY))})
    )"""
_FILE_INSERT = f"""
INSERT INTO "{SCHEMA}".complaints ({", ".join(_COMPLAINT_COLUMNS)})
VALUES ({_placeholders(_AT[name] for name in _COMPLAINT_COLUMNS)})"""
_FILE = f"WITH {_FILE_WITH}{_FILE_INSERT}"
# With an Idempotency-Key: its primary key refuses a second filing under it (a concurrent
# duplicate waits for the first statement's commit, then fails and replays its response).
_FILE_ONCE = f"""WITH
    claim AS (
        INSERT INTO "{SCHEMA}".idempotency_keys
            (client_id, key, request_hash, status_code, response, location)
        VALUES (${_AT["client_id"]}, {_placeholders(range(_KEY, _KEY + 5))})
    ),{_FILE_WITH}{_FILE_INSERT}"""


@dataclass(frozen=True, slots=True)
class Remembered:
    """The response to keep under the key for replays."""

    key: str
    request_hash: str
    status_code: int
    body_json: str
    location: str | None


async def file(
    connection: asyncpg.Connection,
    complaint: ComplaintRecord,
    actor: str,
    event: dict[str, Any],
    remembered: Remembered | None,
) -> None:
    """Write the complaint, its history row, its event (a row from `Outbox.row`) and the response
    under the key, in one statement. asyncpg.UniqueViolationError when the key, the reference or
    the CRM reference is taken."""
    c = complaint
    # Its id, filed_at (= updated_at) and status are the history row's $1, $2 and $6.
    audit = [c.id, c.filed_at, actor, "file", None, c.status.value, 0, None, None]
    own: dict[str, Any] = {
        "reference": c.reference,
        "client_id": c.client_id,
        "crm_reference": c.crm_reference,
        "customer_id": c.customer_id,
        "customer": json.dumps(c.customer.model_dump(mode="json")),
        "channel": c.channel,
        "category": c.category,
        "product": c.product,
        "severity": c.severity,
        "description": c.description,
        "amount": c.amount,
        "currency": c.currency,
        "occurred_at": c.occurred_at,
        "agent_id": c.agent_id,
        "tags": list(c.tags),
        "confidential": c.confidential,
        "repeat_of": c.repeat_of,
        "repeat_kind": c.repeat_kind,
        "deadline_profile": c.deadline_profile,
        "deadline_profile_reason": c.deadline_profile_reason,
        "calendar": c.calendar,
        "calendar_reason": c.calendar_reason,
        "deadlines": json.dumps([d.as_dict() for d in c.deadlines]),
        "next_due_at": c.next_due_at,
    }
    values = [*audit, *(own[name] for name in _OWN), *outbox_values(event)]
    if remembered is None:
        await connection.execute(_FILE, *values)
        return
    r = remembered
    await connection.execute(
        _FILE_ONCE, *values, r.key, r.request_hash, r.status_code, r.body_json, r.location
    )
