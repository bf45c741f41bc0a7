"""Call-back outcomes: recording one, and their results (CSAT and NPS) aggregated."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from complaints_common.api import Principal, require_scope
from complaints_common.validation import QueryTime
from complaints_followup.api.dependencies import Deps
from complaints_followup.api.models import (
    Grouping,
    OutcomeGroup,
    OutcomeIn,
    OutcomeRecorded,
    OutcomeSummary,
    Period,
)
from complaints_followup.api.views import CONFLICT, NOT_FOUND, view
from complaints_followup.application import outcomes
from complaints_followup.domain.outcome import CallBack
from complaints_followup.store.outcomes import OutcomeQuery

router = APIRouter(prefix="/v1", tags=["outcomes"])


@router.post(
    "/followups/{followup_id}/outcome",
    summary="Record the call-back's outcome",
    description=(
        "Reached and satisfied: `followup.outcome` satisfied, and a happy customer (CSAT 4-5 or NPS "
        "9-10) gets a review request. Reached and dissatisfied: `followup.outcome` dissatisfied, on "
        "which intake reopens and escalates the complaint. Not reached: the next attempt is scheduled "
        "(`FOLLOWUP_RETRY_SPACING_S` later) until `FOLLOWUP_MAX_CALL_ATTEMPTS`, then the follow-up "
        "is closed as unreachable (an early attempt's retry comes no earlier than the check was due). "
        "The comment is stored, never logged or published. An outcome can be recorded once, on a "
        "satisfaction check or manual follow-up, whenever the agent reaches the customer: before it "
        "falls due (it closes unfired) or after."
    ),
    responses={**NOT_FOUND, **CONFLICT},
)
async def record_callback(
    followup_id: UUID,
    body: OutcomeIn,
    principal: Annotated[Principal, Depends(require_scope("file"))],
    deps: Deps,
) -> OutcomeRecorded:
    call = CallBack(body.reached, body.satisfied, body.csat, body.nps)
    recorded = await outcomes.record_outcome(
        deps, principal.client, followup_id, call, comment=body.comment, recorded_by=principal.actor_id
    )
    following = recorded.next_followup
    return OutcomeRecorded(
        followup=view(deps, recorded.followup),
        outcome=recorded.outcome,
        next_followup=view(deps, following) if following else None,
    )


@router.get(
    "/outcomes/summary",
    summary="Outcomes, CSAT and NPS aggregated",
    description=(
        "Recorded outcomes grouped by any of period (day, week or month of recording), category, agent "
        "(who recorded it), remedy (the compensation offer kind; `none` without compensation) and kind."
    ),
)
async def summarise_outcomes(
    principal: Annotated[Principal, Depends(require_scope("read"))],
    deps: Deps,
    group_by: Annotated[list[Grouping] | None, Query()] = None,
    period: Period = "week",
    since: QueryTime | None = None,
    until: QueryTime | None = None,
) -> OutcomeSummary:
    groups = list(dict.fromkeys(group_by or ["period"]))
    query = OutcomeQuery(group_by=groups, period=period, since=since, until=until)
    tallies = await outcomes.summarise_outcomes(deps, principal.client, query)
    return OutcomeSummary(
        group_by=groups,
        period=period,
        groups=[OutcomeGroup.model_validate(tally, from_attributes=True) for tally in tallies],
    )
