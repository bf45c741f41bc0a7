"""Worklists: the due and overdue follow-ups of a team or an agent, page by page."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from complaints_common.api import Principal, require_scope
from complaints_common.problems import Unprocessable
from complaints_followup.api.dependencies import Deps
from complaints_followup.api.models import Worklist
from complaints_followup.api.views import views
from complaints_followup.application.worklists import worklist

router = APIRouter(prefix="/v1", tags=["worklists"])


@router.get(
    "/worklists",
    summary="Due and overdue follow-ups",
    description=(
        "Fired satisfaction checks and manual follow-ups waiting for an agent, oldest first, per team "
        "and agent. `state=overdue` keeps those due more than `FOLLOWUP_OVERDUE_AFTER_S` ago. "
        "Cursor-paginated: pass `next_cursor` back as `cursor`."
    ),
)
async def get_worklist(
    principal: Annotated[Principal, Depends(require_scope("read"))],
    deps: Deps,
    team: Annotated[str | None, Query(max_length=100)] = None,
    agent_id: Annotated[str | None, Query(max_length=100)] = None,
    state: Annotated[str, Query(pattern="^(due|overdue)$", description="due (all) or overdue")] = "due",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Worklist:
    page = await worklist(
        deps,
        principal.client,
        team=team,
        agent_id=agent_id,
        overdue_only=state == "overdue",
        after=_decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    last = page.items[-1] if page.more else None
    next_cursor = _encode_cursor(last.due_at, last.id) if last else None
    return Worklist(items=views(deps, page.items), next_cursor=next_cursor)


def _encode_cursor(due_at: datetime, followup_id: UUID) -> str:
    raw = json.dumps({"due_at": due_at.isoformat(), "id": str(followup_id)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(value["due_at"]), UUID(value["id"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise Unprocessable("The cursor is not one this API returned.") from exc
