"""Redemption and clawback of granted vouchers."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path

from complaints_common.api import Principal, require_scope
from complaints_common.openapi import problem_response
from complaints_common.problems import Conflict, NotFound
from complaints_compensation.api.dependencies import Deps
from complaints_compensation.api.models import ClawbackRequest, DecisionView, VoucherAction
from complaints_compensation.api.shared import view
from complaints_compensation.application import vouchers
from complaints_compensation.application.decisions import NO_SUCH_DECISION

router = APIRouter(prefix="/v1", tags=["vouchers"])


@router.post(
    "/vouchers/{code}/redeem",
    summary="Redeem a voucher: single use, before its expiry",
    responses={
        404: problem_response("No such voucher.", NotFound, "No such voucher."),
        409: problem_response("Already used, expired or clawed back.", Conflict, "The voucher is redeemed."),
    },
)
async def redeem(
    code: Annotated[str, Path(max_length=64)],
    body: VoucherAction,
    principal: Annotated[Principal, Depends(require_scope("manage"))],
    deps: Deps,
) -> DecisionView:
    return view(await vouchers.redeem_voucher(deps, principal, code, body.reason))


@router.post(
    "/decisions/{decision_id}/clawback",
    summary="Claw back a grant later found abusive; its voucher can no longer be used",
    responses={
        404: problem_response(NO_SUCH_DECISION, NotFound, NO_SUCH_DECISION),
        409: problem_response(
            "Not a granted decision, or clawed back already.",
            Conflict,
            "Only a granted decision can be clawed back, once.",
        ),
    },
)
async def claw_back(
    decision_id: UUID,
    body: ClawbackRequest,
    principal: Annotated[Principal, Depends(require_scope("manage"))],
    deps: Deps,
) -> DecisionView:
    return view(await vouchers.claw_back(deps, principal, decision_id, body.reason))
