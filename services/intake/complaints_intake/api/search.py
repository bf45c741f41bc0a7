"""Finding complaints: filtered, sorted lists with cursor pagination, and a customer's history."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from fastapi_problem.error import StatusProblem

from complaints_common.api import Principal, require_scope
from complaints_common.events.contracts import Channel, Severity
from complaints_common.openapi import problem_response
from complaints_common.query import refuse_unknown_query_parameters
from complaints_common.validation import QueryTime
from complaints_intake.api.docs import RATE_LIMITED
from complaints_intake.api.models import ComplaintPage, ComplaintSummary, CustomerComplaints
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.domain.complaint import Status
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

MAX_PAGE = 200


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


CursorParam = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")]
LimitParam = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")]
Text100 = Annotated[str | None, Query(min_length=1, max_length=100)]


def search_router(deps: IntakeDependencies) -> APIRouter:
    runtime = deps.runtime
    router = APIRouter(tags=["complaints"], dependencies=[Depends(refuse_unknown_query_parameters)])

    async def page(filters: Filters, sort: Sort, limit: int, cursor: str | None) -> ComplaintPage:
        after = decode_cursor(cursor, sort) if cursor else None
        async with runtime.db.transaction() as session:
            rows = await find_complaints(
                session, filters, newest_first=sort is Sort.NEWEST, limit=limit + 1, after=after
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return ComplaintPage(
            items=[ComplaintSummary.model_validate(r, from_attributes=True) for r in rows],
            next_cursor=encode_cursor(rows[-1], sort) if more else None,
        )

    @router.get(
        "/v1/complaints",
        summary="Find complaints",
        description=(
            "Filters combine with AND; a query parameter not listed here is refused (422 naming it), "
            "so a misspelt filter never returns unrelated complaints. Find a complaint by the ids the "
            "CRM holds: `crm_reference` (yours), `reference` (the one the customer quotes), the "
            "customer's `email` (any case) or `phone` (compared by its digits), a `tag`, or words of "
            "the description (`q`, PostgreSQL full-text search, all words must match; quotes for a "
            "phrase, `-word` to exclude). Pages are cut by a cursor on (filed_at, id), so complaints "
            "filed while you page through never shift or repeat items. `overdue=true` lists complaints "
            "whose earliest running due time has passed, `overdue=false` the others; "
            "`due_within_hours` the ones due soon. Confidential complaints are listed only for keys "
            "with the `confidential` scope."
        ),
        responses={
            **RATE_LIMITED,
            422: problem_response(
                "A filter or the cursor is not valid, or a query parameter is unknown.",
                InvalidCursor,
                "Pass back `next_cursor` exactly as it was returned.",
            ),
        },
    )
    async def list_complaints(
        principal: Annotated[Principal, Depends(require_scope("read"))],
        status: Annotated[list[Status] | None, Query(max_length=5)] = None,
        category: Text100 = None,
        product: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        channel: Channel | None = None,
        severity: Severity | None = None,
        customer_id: Text100 = None,
        agent_id: Text100 = None,
        crm_reference: Text100 = None,
        reference: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
        email: Annotated[str | None, Query(min_length=3, max_length=254)] = None,
        phone: Annotated[str | None, Query(min_length=3, max_length=32, pattern=r"^\+?[0-9 ().-]+$")] = None,
        tag: Text100 = None,
        q: Annotated[
            str | None, Query(min_length=1, max_length=200, description="Words of the description.")
        ] = None,
        filed_from: Annotated[
            QueryTime | None, Query(description="Filed at or after (with a time zone).")
        ] = None,
        filed_to: Annotated[QueryTime | None, Query(description="Filed before (with a time zone).")] = None,
        overdue: bool | None = None,
        due_within_hours: Annotated[float | None, Query(gt=0, le=24 * 366)] = None,
        confidential: bool | None = None,
        sort: Sort = Sort.NEWEST,
        limit: LimitParam = 50,
        cursor: CursorParam = None,
    ) -> ComplaintPage:
        now = datetime.now(UTC)
        filters = Filters(
            client_id=principal.client,
            include_confidential=principal.sees_confidential,
            status=[s.value for s in status or []],
            category=category,
            product=product,
            channel=channel,
            severity=severity,
            customer_id=customer_id,
            agent_id=agent_id,
            filed_from=filed_from,
            filed_to=filed_to,
            confidential=confidential,
            crm_reference=crm_reference,
            reference=reference,
            email=email,
            phone=phone,
            tag=tag,
            text=q,
            overdue_at=now if overdue is True else None,
            on_time_at=now if overdue is False else None,
            due_before=now + timedelta(hours=due_within_hours) if due_within_hours else None,
        )
        return await page(filters, sort, limit, cursor)

    @router.get(
        "/v1/customers/{customer_id}/complaints",
        tags=["customers"],
        summary="A customer's complaints",
        description=(
            "Every complaint of this customer across all channels, newest first, with repeats and "
            "duplicates linked (`repeat_of`, `repeat_kind`) and the customer flagged "
            "`repeated_extreme` when critical complaints keep coming, so the agent never makes the "
            "customer repeat themselves and nobody pays twice."
        ),
        responses={**RATE_LIMITED},
    )
    async def customer_complaints(
        customer_id: Annotated[str, Path(min_length=1, max_length=100)],
        principal: Annotated[Principal, Depends(require_scope("read"))],
        limit: LimitParam = 50,
        cursor: CursorParam = None,
    ) -> CustomerComplaints:
        filters = Filters(
            client_id=principal.client,
            include_confidential=principal.sees_confidential,
            customer_id=customer_id,
        )
        listed = await page(filters, Sort.NEWEST, limit, cursor)
        policy = deps.repeat_policy
        now = datetime.now(UTC)
        async with runtime.db.transaction() as session:
            total, still_open, repeats = await count_complaints(
                session, filters, [s.value for s in OPEN_STATUSES]
            )
            severities = await severities_of(
                session, principal.client, customer_id, now - policy.extreme_window
            )
            abusive = await abusive_conduct_flagged(session, principal.client, customer_id)
        return CustomerComplaints(
            customer_id=customer_id,
            total=total,
            open=still_open,
            repeats=repeats,
            flags=[
                *customer_flags(severities, now, policy),
                *([CustomerFlag.ABUSIVE_CONDUCT] if abusive else []),
            ],
            items=listed.items,
            next_cursor=listed.next_cursor,
        )

    return router
