"""Regulatory reports: the complaints return, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from complaints_common.api import Principal, require_scope
from complaints_common.openapi import problem_response
from complaints_common.problems import Unprocessable
from complaints_common.validation import QueryTime
from complaints_intake.api.dependencies import Deps
from complaints_intake.api.docs import RATE_LIMITED
from complaints_intake.application.reports import complaints_return_for
from complaints_intake.domain.returns import ComplaintsReturn, Figures

CSV_TYPE = "text/csv"


class ReturnFigures(BaseModel):
    opened: int = Field(description="Filed within the period.")
    closed: int = Field(description="First resolved (final or summary response) within the period.")
    outstanding: int = Field(description="Still open at the end of the period.")
    closed_within_3_business_days: int
    share_closed_within_3_business_days: float | None = Field(description="Of those closed; null: none.")
    closed_within_statutory_deadline: int
    share_closed_within_statutory_deadline: float | None
    upheld: int = Field(description="Closed upheld or partly upheld.")
    share_upheld: float | None

    @classmethod
    def of(cls, f: Figures) -> ReturnFigures:
        return cls(
            opened=f.opened,
            closed=f.closed,
            outstanding=f.outstanding,
            closed_within_3_business_days=f.closed_within_3_business_days,
            share_closed_within_3_business_days=f.share(f.closed_within_3_business_days),
            closed_within_statutory_deadline=f.closed_within_statutory_deadline,
            share_closed_within_statutory_deadline=f.share(f.closed_within_statutory_deadline),
            upheld=f.upheld,
            share_upheld=f.share(f.upheld),
        )


class ReturnGroup(ReturnFigures):
    product_group: str = Field(description="The complaint's category.")
    root_cause: str | None = Field(description="As recorded at resolution; null: not recorded.")


class RedressPaid(BaseModel):
    currency: str
    redress: Decimal = Field(description="Offered in final responses closed within the period.")
    goodwill: Decimal = Field(description="Compensation granted within the period (compensation's events).")
    total: Decimal


class ComplaintsReturnView(BaseModel):
    regime: str
    period_from: datetime
    period_to: datetime
    profiles: list[str] = Field(description="The deadline profiles whose complaints the regime counts.")
    totals: ReturnFigures
    groups: list[ReturnGroup]
    redress: list[RedressPaid]

    @classmethod
    def of(
        cls, regime: str, start: datetime, end: datetime, profiles: list[str], r: ComplaintsReturn
    ) -> ComplaintsReturnView:
        return cls(
            regime=regime,
            period_from=start,
            period_to=end,
            profiles=profiles,
            totals=ReturnFigures.of(r.totals),
            groups=[
                ReturnGroup(product_group=g, root_cause=c, **ReturnFigures.of(f).model_dump())
                for (g, c), f in r.groups.items()
            ],
            redress=[
                RedressPaid(currency=k, redress=v.redress, goodwill=v.goodwill, total=v.total)
                for k, v in r.redress.items()
            ],
        )

    def as_csv(self) -> str:
        """One table: a row per group, one for the totals, one per redress currency."""
        figures = list(ReturnFigures.model_fields)
        columns = ["row", "product_group", "root_cause", *figures, "currency", "redress", "goodwill", "total"]
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, lineterminator="\n")
        writer.writeheader()
        for group in self.groups:
            writer.writerow({"row": "group", **group.model_dump()})
        writer.writerow({"row": "total", **self.totals.model_dump()})
        for paid in self.redress:
            writer.writerow({"row": "redress", **paid.model_dump()})
        return out.getvalue()


router = APIRouter(prefix="/v1/reports", tags=["reports"])


def csv_download(view: ComplaintsReturnView) -> Response:
    filename = f"complaints-return-{view.regime}-{view.period_from:%Y%m%d}-{view.period_to:%Y%m%d}.csv"
    return Response(
        view.as_csv(),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/complaints-return",
    summary="The complaints return for a regulator",
    description=(
        "Complaints opened, closed and outstanding by product group (category) and root cause; "
        "the share closed within 3 business days and within the statutory deadline; the upheld "
        "share (partly upheld counts as upheld); redress paid, goodwill included (compensation "
        "granted, as compensation's events said). Over this client's complaints under the "
        "regime's deadline profiles, for the period [from, to), computed from the audited "
        "history: the same period gives the same figures. JSON, or CSV with `format=csv` or "
        "`Accept: text/csv`."
    ),
    response_model=ComplaintsReturnView,
    responses={
        **RATE_LIMITED,
        200: {"content": {CSV_TYPE: {"schema": {"type": "string"}}}},
        422: problem_response("Unknown regime or an empty period.", Unprocessable, "Unknown regime 'xx'."),
    },
)
async def complaints_return_report(
    request: Request,
    principal: Annotated[Principal, Depends(require_scope("read"))],
    regime: Annotated[str, Query(examples=["uk-fca"], description="uk-fca or us-cfpb.")],
    period_from: Annotated[
        QueryTime, Query(alias="from", description="Start of the period (with a time zone).")
    ],
    period_to: Annotated[
        QueryTime, Query(alias="to", description="End of the period (excluded; with a time zone).")
    ],
    deps: Deps,
    format: Annotated[Literal["json", "csv"] | None, Query(description="Overrides Accept.")] = None,
) -> Response | ComplaintsReturnView:
    start, end = period_from, period_to
    assert start is not None and end is not None
    found = await complaints_return_for(deps, principal.client, regime, start, end)
    view = ComplaintsReturnView.of(regime, start, end, found.profiles, found.figures)
    wants_csv = format == "csv" or (format is None and CSV_TYPE in request.headers.get("accept", ""))
    return csv_download(view) if wants_csv else view
