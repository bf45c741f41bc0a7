"""Erasure requests: a customer's personal data pseudonymised in every service, the record kept."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, Field

from complaints_common.api import Principal, require_scope
from complaints_intake.api.dependencies import Deps
from complaints_intake.api.docs import RATE_LIMITED
from complaints_intake.application.erasure import request_erasure


class ErasureView(BaseModel):
    erasure_id: UUID
    customer_id: str
    complaint_ids: list[UUID] = Field(description="This client's complaints of the customer it covers.")
    requested_at: datetime


router = APIRouter(tags=["customers"])


@router.post(
    "/v1/customers/{customer_id}/erasure",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Erase a customer's personal data",
    description=(
        "Audited in intake, then published as `complaint.erasure_requested` for each of this "
        "client's complaints of the customer: every service (intake included) replaces names, "
        "contacts and free text in its tables and its outbox, keeping ids, times, outcomes and "
        "amounts so the regulatory record and the complaints return stay whole. Delivered at "
        "least once and applied idempotently, so a crash part-way resumes; a repeated request "
        "is harmless. The records themselves are purged after the retention period."
    ),
    responses={**RATE_LIMITED},
)
async def erase(
    customer_id: Annotated[str, Path(min_length=1, max_length=100)],
    principal: Annotated[Principal, Depends(require_scope("manage"))],
    deps: Deps,
) -> ErasureView:
    erasure = await request_erasure(deps, principal, customer_id)
    return ErasureView(
        erasure_id=erasure.erasure_id,
        customer_id=customer_id,
        complaint_ids=erasure.complaint_ids,
        requested_at=erasure.requested_at,
    )
