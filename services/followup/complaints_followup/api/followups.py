"""The follow-ups of a complaint, and the manual call-backs agents set and cancel."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Response, status

from complaints_common.api import Principal, require_scope
from complaints_common.validation import PLANNED_FUTURE, PLANNED_PAST, refuse_unless_within
from complaints_followup.api.dependencies import Deps
from complaints_followup.api.models import FollowupView, ManualFollowupIn
from complaints_followup.api.views import CONFLICT, NOT_FOUND, view, views
from complaints_followup.application import followups
from complaints_followup.application.followups import ManualFollowup

router = APIRouter(prefix="/v1", tags=["follow-ups"])


@router.get(
    "/complaints/{complaint_id}/followups",
    summary="The follow-ups of a complaint",
    description="Every timer of the complaint, scheduled, fired, done or cancelled, in due order.",
    responses={**NOT_FOUND},
)
async def list_followups(
    complaint_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))], deps: Deps
) -> list[FollowupView]:
    return views(deps, await followups.followups_of_complaint(deps, principal.client, complaint_id))


@router.post(
    "/complaints/{complaint_id}/followups",
    status_code=status.HTTP_201_CREATED,
    summary="Flag the customer for a call-back",
    description=(
        "An agent sets a manual follow-up; it fires as `followup.due` with kind `manual` at `due_at` "
        "and then waits on the team's worklist for its outcome. Send `Idempotency-Key` to make a "
        "retried request return the same follow-up. The note is stored, never logged or published."
    ),
    responses={**NOT_FOUND, **CONFLICT},
)
async def set_manual_followup(
    complaint_id: UUID,
    body: ManualFollowupIn,
    response: Response,
    principal: Annotated[Principal, Depends(require_scope("file"))],
    deps: Deps,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> FollowupView:
    refuse_unless_within(
        ("body", "due_at"), body.due_at, now=deps.clock(), past=PLANNED_PAST, future=PLANNED_FUTURE
    )
    request = ManualFollowup(body.due_at, body.team, body.agent_id, body.note, idempotency_key)
    followup = await followups.set_manual_followup(deps, principal.client, complaint_id, request)
    response.headers["Location"] = f"/v1/followups/{followup.id}"
    return view(deps, followup)


@router.get(
    "/followups/{followup_id}",
    summary="One follow-up",
    description="A follow-up by its id, with its outcome once recorded and whether it is overdue.",
    responses={**NOT_FOUND},
)
async def get_followup(
    followup_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))], deps: Deps
) -> FollowupView:
    return view(deps, await followups.followup(deps, principal.client, followup_id))


@router.delete(
    "/followups/{followup_id}",
    summary="Cancel a scheduled follow-up",
    description="A cancelled follow-up never fires. Only one that has not fired can be cancelled.",
    responses={**NOT_FOUND, **CONFLICT},
)
async def cancel_followup(
    followup_id: UUID, principal: Annotated[Principal, Depends(require_scope("file"))], deps: Deps
) -> FollowupView:
    return view(deps, await followups.cancel_followup(deps, principal.client, followup_id))
