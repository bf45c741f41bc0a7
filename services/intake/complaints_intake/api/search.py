"""Finding complaints: filtered, sorted lists with cursor pagination, and a customer's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from complaints_common.api import Principal, require_scope
from complaints_common.events.contracts import Channel, Severity
from complaints_common.openapi import problem_response
from complaints_common.query import refuse_unknown_query_parameters
from complaints_common.validation import QueryTime
from complaints_intake.api.dependencies import Deps
from complaints_intake.api.docs import RATE_LIMITED
from complaints_intake.api.models import ComplaintPage, ComplaintSummary, CustomerComplaints
from complaints_intake.application import search
from complaints_intake.application.search import InvalidCursor, Page, Sort
from complaints_intake.domain.complaint import Status
from complaints_intake.store.search import Filters

MAX_PAGE = 200

CursorParam = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")]
LimitParam = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")]
Text100 = Annotated[str | None, Query(min_length=1, max_length=100)]
Phone = Annotated[str | None, Query(min_length=3, max_length=32, pattern=r"^\+?[0-9 ().-]+$")]
Words = Annotated[str | None, Query(min_length=1, max_length=200, description="Words of the description.")]
FiledFrom = Annotated[QueryTime | None, Query(description="Filed at or after (with a time zone).")]
FiledTo = Annotated[QueryTime | None, Query(description="Filed before (with a time zone).")]

router = APIRouter(tags=["complaints"], dependencies=[Depends(refuse_unknown_query_parameters)])


@dataclass(frozen=True)
class ComplaintQuery:
    """The list's query parameters (FastAPI reads them from this class, in this order)."""

    status: Annotated[list[Status] | None, Query(max_length=5)] = None
    category: Text100 = None
    product: Annotated[str | None, Query(min_length=1, max_length=200)] = None
    channel: Channel | None = None
    severity: Severity | None = None
    customer_id: Text100 = None
    agent_id: Text100 = None
    crm_reference: Text100 = None
    reference: Annotated[str | None, Query(min_length=1, max_length=40)] = None
    email: Annotated[str | None, Query(min_length=3, max_length=254)] = None
    phone: Phone = None
    tag: Text100 = None
    q: Words = None
    filed_from: FiledFrom = None
    filed_to: FiledTo = None
    overdue: bool | None = None
    due_within_hours: Annotated[float | None, Query(gt=0, le=24 * 366)] = None
    confidential: bool | None = None
    sort: Sort = Sort.NEWEST
    limit: LimitParam = 50
    cursor: CursorParam = None

    def filters(self, principal: Principal, now: datetime) -> Filters:
        """What to match: the caller's own complaints (confidential ones only for keys that may)."""
        return Filters(
            client_id=principal.client,
            include_confidential=principal.sees_confidential,
            status=[s.value for s in self.status or []],
            category=self.category,
            product=self.product,
            channel=self.channel,
            severity=self.severity,
            customer_id=self.customer_id,
            agent_id=self.agent_id,
            filed_from=self.filed_from,
            filed_to=self.filed_to,
            confidential=self.confidential,
            crm_reference=self.crm_reference,
            reference=self.reference,
            email=self.email,
            phone=self.phone,
            tag=self.tag,
            text=self.q,
            overdue_at=now if self.overdue is True else None,
            on_time_at=now if self.overdue is False else None,
            due_before=now + timedelta(hours=self.due_within_hours) if self.due_within_hours else None,
        )


def page_view(page: Page) -> ComplaintPage:
    return ComplaintPage(
        items=[ComplaintSummary.model_validate(r, from_attributes=True) for r in page.items],
        next_cursor=page.next_cursor,
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
    query: Annotated[ComplaintQuery, Depends()],
    deps: Deps,
) -> ComplaintPage:
    filters = query.filters(principal, datetime.now(UTC))
    return page_view(await search.find(deps, filters, query.sort, query.limit, query.cursor))


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
    deps: Deps,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> CustomerComplaints:
    filters = Filters(
        client_id=principal.client, include_confidential=principal.sees_confidential, customer_id=customer_id
    )
    found = await search.customer_complaints(deps, filters, customer_id, limit, cursor)
    listed = page_view(found.page)
    return CustomerComplaints(
        customer_id=customer_id,
        total=found.total,
        open=found.open,
        repeats=found.repeats,
        flags=list(found.flags),
        items=listed.items,
        next_cursor=listed.next_cursor,
    )
