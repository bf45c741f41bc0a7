"""Follow-up's REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from complaints_common.api import Principal, require_scope
from complaints_common.runtime import Runtime
from complaints_followup.store.timers import followups_for


class FollowupView(BaseModel):
    """A scheduled, fired or cancelled follow-up."""

    id: UUID
    complaint_id: UUID
    kind: str
    attempt: int
    due_at: datetime
    status: str
    fired_at: datetime | None


def followup_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["follow-ups"])

    @router.get("/complaints/{complaint_id}/followups", summary="The follow-ups of a complaint")
    async def list_followups(
        complaint_id: UUID, _: Annotated[Principal, Depends(require_scope("read"))]
    ) -> list[FollowupView]:
        async with runtime.db.transaction() as session:
            rows = await followups_for(session, complaint_id)
        return [FollowupView.model_validate(row) for row in rows]

    return router
