"""Finding complaints: a page of a filtered list (cursor pagination on (filed_at, id)), and a
customer's complaints across every channel with what stands out about them."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from fastapi_problem.error import StatusProblem

from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.domain.lifecycle import OPEN_STATUSES
from complaints_intake.domain.repeats import CustomerFlag, customer_flags
from complaints_intake.store.search import (
    ComplaintListing,
    Filters,
    Position,
    abusive_conduct_flagged,
    count_complaints,
    find_complaints,
    severities_of,
)


class Sort(StrEnum):
    NEWEST = "-filed_at"
    OLDEST = "filed_at"


class InvalidCursor(StatusProblem):
    type_ = "invalid-cursor"
    title = "The cursor is not one this API gave out."
    status = 422


def encode_cursor(row: ComplaintListing, sort: Sort) -> str:
    raw = json.dumps({"f": row.filed_at.isoformat(), "i": str(row.id), "s": sort.value})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sort) -> Position:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = Position(datetime.fromisoformat(raw["f"]), UUID(raw["i"]))
        same_sort = raw["s"] == sort.value
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor("Pass back `next_cursor` exactly as it was returned.") from exc
    if not same_sort or position.filed_at.tzinfo is None:
        raise InvalidCursor("The cursor belongs to a list with another sort order.")
    return position


@dataclass(frozen=True, slots=True)
class Page:
    items: list[ComplaintListing]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class CustomerComplaints:
    total: int
    open: int
    repeats: int
    flags: list[CustomerFlag]
    page: Page


async def find(
    deps: IntakeDependencies, filters: Filters, sort: Sort, limit: int, cursor: str | None
) -> Page:
    """One page of the complaints matching `filters`, and the cursor of the next (None: the last)."""
    after = decode_cursor(cursor, sort) if cursor else None
    async with deps.runtime.db.transaction() as session:
        rows = await find_complaints(
            session, filters, newest_first=sort is Sort.NEWEST, limit=limit + 1, after=after
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(rows[-1], sort) if more else None)


async def customer_complaints(
    deps: IntakeDependencies, filters: Filters, customer_id: str, limit: int, cursor: str | None
) -> CustomerComplaints:
    """The customer's complaints newest first, counted, with the customer's flags (repeated
    extreme complaints, abusive conduct towards staff)."""
    listed = await find(deps, filters, Sort.NEWEST, limit, cursor)
    policy, now = deps.repeat_policy, datetime.now(UTC)
    async with deps.runtime.db.transaction() as session:
        total, still_open, repeats = await count_complaints(
            session, filters, [s.value for s in OPEN_STATUSES]
        )
        severities = await severities_of(session, filters.client_id, customer_id, now - policy.extreme_window)
        abusive = await abusive_conduct_flagged(session, filters.client_id, customer_id)
    flags = [*customer_flags(severities, now, policy), *([CustomerFlag.ABUSIVE_CONDUCT] if abusive else [])]
    return CustomerComplaints(total, still_open, repeats, flags, listed)
