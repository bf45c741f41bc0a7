"""The CRM-facing complaint API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Response, status
from sqlalchemy.exc import IntegrityError

from complaints_common.api import Principal, require_scope
from complaints_common.events.envelope import COMPLAINT_CREATED_V1, Event
from complaints_common.problems import Conflict, NotFound
from complaints_common.runtime import Runtime
from complaints_intake.api.models import ComplaintView, FileComplaint
from complaints_intake.domain.complaint import created_event, reference_for
from complaints_intake.store.complaints import get_complaint, insert_complaint

SOURCE = "/complaints/intake"
PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def complaint_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/v1/complaints", tags=["complaints"])

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        summary="File a complaint",
        description=(
            "Stores the complaint and publishes `complaint.created` in the same transaction, so the "
            "customer's acknowledgement, compensation and follow-up all start from it."
        ),
        responses={409: {"description": "The CRM reference is already used by this client.", **PROBLEM}},
    )
    async def file_complaint(
        body: FileComplaint,
        response: Response,
        principal: Annotated[Principal, Depends(require_scope("file"))],
    ) -> ComplaintView:
        complaint_id, filed_at = uuid4(), datetime.now(UTC)
        reference = reference_for(complaint_id, filed_at)
        event = Event(
            COMPLAINT_CREATED_V1,
            created_event(complaint_id, reference, principal.client, filed_at, body),
            SOURCE,
        )
        try:
            async with runtime.db.transaction() as session:
                await insert_complaint(
                    session,
                    complaint_id=complaint_id,
                    reference=reference,
                    client_id=principal.client,
                    filed_at=filed_at,
                    draft=body,
                )
                await runtime.outbox.add(session, event)
                row = await get_complaint(session, complaint_id)
        except IntegrityError as exc:
            raise Conflict("This CRM reference was already used for another complaint.") from exc
        response.headers["Location"] = f"/v1/complaints/{complaint_id}"
        assert row is not None
        return ComplaintView.from_row(row)

    @router.get(
        "/{complaint_id}",
        summary="Read a complaint",
        responses={404: {"description": "No such complaint for this client.", **PROBLEM}},
    )
    async def read_complaint(
        complaint_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))]
    ) -> ComplaintView:
        async with runtime.db.transaction() as session:
            row = await get_complaint(session, complaint_id)
        if row is None or row["client_id"] != principal.client:
            raise NotFound("No complaint with this id.")
        return ComplaintView.from_row(row)

    return router
