"""Notifications' REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from complaints_common.api import Principal, require_scope
from complaints_common.runtime import Runtime
from complaints_notifications.store.messages import messages_for


class MessageView(BaseModel):
    """A message to the customer: what was said, to whom, on which channel."""

    id: UUID
    complaint_id: UUID
    kind: str
    channel: str
    recipient: str | None
    language: str | None
    subject: str | None
    body: str | None
    status: str
    created_at: datetime
    sent_at: datetime | None


def message_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["messages"])

    @router.get("/complaints/{complaint_id}/messages", summary="What the customer was told")
    async def list_messages(
        complaint_id: UUID, _: Annotated[Principal, Depends(require_scope("read"))]
    ) -> list[MessageView]:
        async with runtime.db.transaction() as session:
            rows = await messages_for(session, complaint_id)
        return [MessageView.model_validate(row) for row in rows]

    return router
