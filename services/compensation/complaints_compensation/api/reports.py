"""Spend and the share settled within frontline authority."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from complaints_common.api import Principal, require_scope
from complaints_common.validation import QueryTime
from complaints_compensation.api.dependencies import Deps
from complaints_compensation.api.models import SpendLine, SpendReport
from complaints_compensation.application import reports
from complaints_compensation.application.reports import GroupBy

router = APIRouter(prefix="/v1", tags=["reports"])


@router.get("/reports/spend", summary="Spend by category, rule, agent or month, and the frontline share")
async def spend(
    principal: Annotated[Principal, Depends(require_scope("read"))],
    deps: Deps,
    group_by: GroupBy = "category",
    since: QueryTime | None = None,
    until: QueryTime | None = None,
) -> SpendReport:
    found = await reports.spend(deps, principal.client, group_by, since, until)
    return SpendReport(
        group_by=group_by,
        since=since,
        until=until,
        lines=[SpendLine.model_validate(line, from_attributes=True) for line in found.lines],
        decided=found.decided,
        settled_within_frontline=found.settled_within_frontline,
        frontline_share=found.frontline_share,
    )
