"""Sign-off of decisions above frontline authority."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends

from complaints_common.api import Principal, require_scope
from complaints_common.openapi import problem_response
from complaints_common.problems import Conflict, Forbidden, NotFound
from complaints_compensation.api.dependencies import Deps
from complaints_compensation.api.models import DecisionPage, DecisionView, RejectRequest, SignOffRequest
from complaints_compensation.api.shared import Limit, Offset, page, view
from complaints_compensation.application.decisions import NO_SUCH_DECISION, waiting_for_approval
from complaints_compensation.application.signing import sign_off

router = APIRouter(prefix="/v1", tags=["approvals"])

SIGN_OFF_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: problem_response(
        "The approver may not sign: not a person's token, own proposal, signed already, or too junior.",
        Forbidden,
        "Four eyes: this person has already signed this decision.",
    ),
    404: problem_response(NO_SUCH_DECISION, NotFound, NO_SUCH_DECISION),
    409: problem_response(
        "The decision is not waiting for approval, or granting it would pass the customer's caps.",
        Conflict,
        "The decision is granted, not waiting for approval.",
    ),
}


@router.get("/approvals", summary="Decisions waiting for a supervisor or manager, oldest first")
async def waiting(
    principal: Annotated[Principal, Depends(require_scope("manage"))],
    deps: Deps,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DecisionPage:
    return page(await waiting_for_approval(deps, principal.client, limit, offset), limit, offset)


@router.post(
    "/decisions/{decision_id}/approve",
    summary="Approve a waiting decision; above the approver's limit it passes to the next level",
    responses=SIGN_OFF_RESPONSES,
)
async def approve(
    decision_id: UUID,
    body: SignOffRequest,
    principal: Annotated[Principal, Depends(require_scope("manage"))],
    deps: Deps,
) -> DecisionView:
    return view(await sign_off(deps, principal, decision_id, "approve", body.reason))


@router.post(
    "/decisions/{decision_id}/reject",
    summary="Reject a waiting decision, with a reason",
    responses=SIGN_OFF_RESPONSES,
)
async def reject(
    decision_id: UUID,
    body: RejectRequest,
    principal: Annotated[Principal, Depends(require_scope("manage"))],
    deps: Deps,
) -> DecisionView:
    return view(await sign_off(deps, principal, decision_id, "reject", body.reason))
