"""Compensation's REST API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from complaints_common.api import Principal, require_scope
from complaints_common.events.contracts import Offer
from complaints_common.problems import NotFound
from complaints_common.runtime import Runtime
from complaints_compensation.store.decisions import decision_for

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


class DecisionView(BaseModel):
    """A compensation decision for a complaint."""

    id: UUID
    complaint_id: UUID
    status: str
    offer: Offer
    value_amount: Decimal
    cost_amount: Decimal
    currency: str
    voucher_code: str | None
    voucher_expires_at: datetime | None
    rule_id: str
    policy_version: str
    authority: str
    granted_by: str
    decided_at: datetime


def decision_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["decisions"])

    @router.get(
        "/complaints/{complaint_id}/decision",
        summary="The compensation decision for a complaint",
        responses={404: {"description": "No decision (yet) for this complaint.", **PROBLEM}},
    )
    async def read_decision(
        complaint_id: UUID, _: Annotated[Principal, Depends(require_scope("read"))]
    ) -> DecisionView:
        async with runtime.db.transaction() as session:
            row = await decision_for(session, complaint_id)
        if row is None:
            raise NotFound("No compensation decision for this complaint yet.")
        return DecisionView.model_validate(row)

    return router
