"""Insights: fix the process, not the people. Aggregates only, so no personal data leaves here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from complaints_common.api import Principal, require_scope
from complaints_common.validation import QueryTime
from complaints_intake.api.dependencies import Deps
from complaints_intake.api.docs import RATE_LIMITED
from complaints_intake.application.insights import insights_for


class Breakdown(BaseModel):
    key: str | None = Field(description="The category, product, root cause... (null: not recorded).")
    count: int
    resolved: int
    repeats: int = Field(description="How many were a repeat or duplicate of an earlier complaint.")


class Durations(BaseModel):
    count: int = Field(description="Complaints that reached the milestone.")
    median_seconds: float | None
    p90_seconds: float | None


class MissedDeadlines(BaseModel):
    total: int
    by_deadline: dict[str, int]


class Week(BaseModel):
    week: datetime
    count: int


class Insights(BaseModel):
    """What a quality manager needs to remove causes (PLATFORM.md rule 8)."""

    total: int
    repeat_rate: float = Field(description="Share of complaints linked as a repeat or duplicate.")
    reopened: int
    escalated: int
    abusive_conduct: int = Field(
        description="Complaints on which an agent flagged abusive conduct towards staff."
    )
    by_category: list[Breakdown]
    by_product: list[Breakdown]
    by_root_cause: list[Breakdown]
    by_channel: list[Breakdown]
    by_status: list[Breakdown]
    time_to_acknowledge: Durations
    time_to_resolve: Durations
    deadlines_missed: MissedDeadlines
    weekly: list[Week] = Field(description="Complaints filed per week (the trend).")


router = APIRouter(prefix="/v1/insights", tags=["insights"])


@router.get(
    "",
    summary="Complaint insights",
    description=(
        "Counts and trends by category, product, recorded root cause (process, product, staff, "
        "customer expectation) and channel; repeat rate; median and p90 time to acknowledge and to "
        "resolve; deadlines missed. Over this client's complaints, optionally within a filing period."
    ),
    responses={**RATE_LIMITED},
)
async def read_insights(
    principal: Annotated[Principal, Depends(require_scope("read"))],
    deps: Deps,
    filed_from: Annotated[
        QueryTime | None, Query(description="Filed at or after (with a time zone).")
    ] = None,
    filed_to: Annotated[QueryTime | None, Query(description="Filed before (with a time zone).")] = None,
) -> Insights:
    figures = await insights_for(deps, principal.client, filed_from, filed_to)
    return Insights.model_validate(figures, from_attributes=True)
