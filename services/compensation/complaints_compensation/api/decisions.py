"""Decisions: the latest for a complaint, the audit trail, one decision, and an agent's proposal."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from complaints_common.api import Principal, require_scope
from complaints_common.events.contracts import DecisionStatus
from complaints_common.openapi import problem_response
from complaints_common.problems import Conflict, NotFound
from complaints_compensation.api.dependencies import Deps
from complaints_compensation.api.models import DecisionPage, DecisionView, ProposalRequest
from complaints_compensation.api.shared import Limit, Offset, page, view
from complaints_compensation.application import decisions
from complaints_compensation.application.deciding import NOT_SEEN, Proposal, propose_compensation
from complaints_compensation.application.decisions import NO_DECISION_YET, NO_SUCH_DECISION, DecisionFilter

router = APIRouter(prefix="/v1", tags=["decisions"])


@router.get(
    "/complaints/{complaint_id}/decision",
    summary="The latest compensation decision for a complaint",
    responses={404: problem_response("No decision (yet) for this complaint.", NotFound, NO_DECISION_YET)},
)
async def read_decision(
    complaint_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))], deps: Deps
) -> DecisionView:
    return view(await decisions.decision_of_complaint(deps, principal.client, complaint_id))


@router.get(
    "/decisions",
    summary="The audit trail: decisions by customer, status, complaint or rule, newest first",
)
async def list_decisions(
    principal: Annotated[Principal, Depends(require_scope("read"))],
    deps: Deps,
    customer_id: Annotated[str | None, Query(max_length=100)] = None,
    status: DecisionStatus | None = None,
    complaint_id: UUID | None = None,
    rule_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DecisionPage:
    where = DecisionFilter(customer_id, status, complaint_id, rule_id)
    return page(await decisions.find_decisions(deps, principal.client, where, limit, offset), limit, offset)


@router.get(
    "/decisions/{decision_id}",
    summary="One decision with its sign-offs",
    responses={404: problem_response(NO_SUCH_DECISION, NotFound, NO_SUCH_DECISION)},
)
async def read_one(
    decision_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))], deps: Deps
) -> DecisionView:
    return view(await decisions.decision(deps, principal.client, decision_id))


@router.post(
    "/complaints/{complaint_id}/proposals",
    status_code=201,
    summary="An agent proposes compensation; within the agent's limit it is granted at once",
    responses={
        404: problem_response(NOT_SEEN, NotFound, NOT_SEEN),
        409: problem_response(
            "The complaint already has a live compensation.",
            Conflict,
            "The complaint already has a granted or waiting compensation.",
        ),
    },
)
async def propose(
    complaint_id: UUID,
    body: ProposalRequest,
    principal: Annotated[Principal, Depends(require_scope("file"))],
    deps: Deps,
) -> DecisionView:
    offer = body.offer
    proposal = Proposal(offer.kind, offer.description, offer.value, offer.percentage)
    return view(await propose_compensation(deps, principal, complaint_id, proposal))
