"""The front line's options: what the agent may offer, and the customer's choice."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends

from complaints_common.api import Principal, require_scope
from complaints_common.openapi import problem_response
from complaints_common.problems import Conflict, NotFound
from complaints_compensation.api.dependencies import Deps
from complaints_compensation.api.models import ChoiceRequest, DecisionView, OptionSetView, OptionView
from complaints_compensation.api.shared import view
from complaints_compensation.application.options import NO_OPTIONS, options_for, record_choice

router = APIRouter(prefix="/v1", tags=["options"])


@router.get(
    "/complaints/{complaint_id}/options",
    summary="The offers the agent may make the customer, and what became of them (scope: read)",
    description=(
        "Where an agent was on the line (the complaint names its agent and came in on one of the "
        "policy's `frontline_options.channels`), two or three offers of different kinds, each "
        "within the front line's authority for this customer. `within_your_authority` is the "
        "caller's own verified role's limit (an API key has the agent's)."
    ),
    responses={404: problem_response(NO_OPTIONS, NotFound, NO_OPTIONS)},
)
async def read_options(
    complaint_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))], deps: Deps
) -> OptionSetView:
    found = await options_for(deps, principal, complaint_id)
    offered = found.offered
    return OptionSetView(
        complaint_id=offered.complaint_id,
        status=offered.status,
        options=[
            OptionView(option_id=o.option_id, offer=o.offer, within_your_authority=within)
            for o, within in zip(offered.options, found.within_authority, strict=True)
        ],
        policy_version=offered.policy_version,
        offered_at=offered.offered_at,
        choose_by=offered.choose_by,
        chosen_option=offered.chosen_option,
        closed_by=offered.closed_by,
        closed_at=offered.closed_at,
        decision_id=offered.decision_id,
    )


@router.post(
    "/complaints/{complaint_id}/choice",
    status_code=201,
    summary="Record the customer's choice; within the caller's authority it is granted (scope: file)",
    description=(
        "Who records the choice, and with which authority, is the authenticated caller (a person's "
        "verified role; an API key has the agent's limit). Within that authority the offer is "
        "granted at once and the customer told; above it, it waits for approval like a proposal."
    ),
    responses={
        404: problem_response(
            NO_OPTIONS + " Or the option id is not one of the complaint's options.",
            NotFound,
            "'refund' is not one of this complaint's options.",
        ),
        409: problem_response(
            "The options are closed: chosen, proposed over or lapsed.", Conflict, "The options are chosen."
        ),
    },
)
async def choose(
    complaint_id: UUID,
    body: ChoiceRequest,
    principal: Annotated[Principal, Depends(require_scope("file"))],
    deps: Deps,
) -> DecisionView:
    return view(await record_choice(deps, principal, complaint_id, body.option_id, body.reason))
