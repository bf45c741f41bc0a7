"""The CRM-facing complaint API: file, read and move complaints (application/)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from complaints_common.api import Principal, require_scope
from complaints_common.openapi import problem_response
from complaints_common.problems import Conflict, Forbidden
from complaints_intake.api.dependencies import Deps
from complaints_intake.api.docs import NOT_FOUND, RATE_LIMITED
from complaints_intake.api.idempotency import IdempotencyKey, replay
from complaints_intake.api.models import (
    ComplaintHistory,
    ComplaintView,
    ConductFlag,
    FileComplaint,
    HistoryEntry,
    Transition,
)
from complaints_intake.application import complaints, filing, lifecycle
from complaints_intake.application.idempotency import IdempotencyKeyReused
from complaints_intake.application.lifecycle import IllegalTransitionProblem, LetterIncompleteProblem
from complaints_intake.store.idempotency import StoredResponse

router = APIRouter(prefix="/v1/complaints", tags=["complaints"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ComplaintView,
    summary="File a complaint",
    description=(
        "Stores the complaint and publishes `complaint.created` in the same transaction, so the "
        "customer's acknowledgement, compensation and follow-up all start from it. Send an "
        "`Idempotency-Key` so a retry never files it twice."
    ),
    responses={
        **RATE_LIMITED,
        409: problem_response(
            "The CRM reference is already used by this client: `complaint_id` and `complaint_url` "
            "name the complaint filed under it, so a CRM that lost the first response can recover.",
            Conflict,
            "This CRM reference was already used for another complaint.",
            complaint_id="0b9f4a52-8d2e-4c51-9a57-3f1d2c8e6b10",
            complaint_url="/v1/complaints/0b9f4a52-8d2e-4c51-9a57-3f1d2c8e6b10",
        ),
        422: problem_response(
            "A field is not valid, or the Idempotency-Key was used for another request.",
            IdempotencyKeyReused,
            "This Idempotency-Key was first used with a different request; use a new key per operation.",
        ),
    },
)
async def file_complaint(
    body: FileComplaint,
    request: Request,
    principal: Annotated[Principal, Depends(require_scope("file"))],
    deps: Deps,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    filed = await filing.file_complaint(
        deps, principal, body, idempotency_key, request.url.path, ComplaintView.of
    )
    if isinstance(filed, StoredResponse):
        return replay(filed)
    # The JSON FastAPI would send for the response model (the same serialiser; no field has an
    # alias), made once: with a key it is the text kept for replays already.
    sent = Response(
        filed.json or filed.view.model_dump_json(), status.HTTP_201_CREATED, media_type="application/json"
    )
    if filed.location:
        sent.headers["Location"] = filed.location
    return sent


@router.get(
    "/{complaint_id}",
    summary="Read a complaint",
    description="The complaint with its status, due times and journey through the other services.",
    responses={**RATE_LIMITED, **NOT_FOUND},
)
async def read_complaint(
    complaint_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))], deps: Deps
) -> ComplaintView:
    return ComplaintView.of(await complaints.complaint_for(deps, principal, complaint_id))


@router.post(
    "/{complaint_id}/transitions",
    response_model=ComplaintView,
    summary="Move a complaint in its life",
    description=(
        "acknowledge, start, resolve (optionally with a root cause), close, reopen, escalate, "
        "pause (waiting on the customer) or resume; and the regulatory letters: holding_response "
        "(with the reasons in `explanation`; the status stays, a payment-services deadline becomes "
        "35 business days), summary_resolution (resolves; only by the close of the third business "
        "day after receipt) and final_response (resolves, with `outcome` and `redress`). Each change "
        "is audited in the history; status changes and escalations are published as "
        "`complaint.status_changed`, pause, resume and holding responses as "
        "`complaint.deadlines_changed`, each letter as `complaint.letter_issued` for notifications "
        "to send in the customer's language. An action the current state does not allow is refused "
        "with a 409 problem `illegal-transition`; a letter whose required content (for the FCA the "
        "Financial Ombudsman Service wording) is missing in the customer's language is refused "
        "before sending with a 422 problem `letter-incomplete`."
    ),
    responses={
        **RATE_LIMITED,
        **NOT_FOUND,
        409: problem_response(
            "The action is not allowed in the complaint's state.",
            IllegalTransitionProblem,
            "Cannot close a complaint that is received; allowed only from: resolved.",
        ),
        422: problem_response(
            "A field is not valid, or the letter would lack content its regulator requires.",
            LetterIncompleteProblem,
            "The final response would lack required content in 'fa': fos_right_to_refer, "
            "fos_time_limit, fos_contact. Add the approved wording to the letter rules.",
            missing=["fos_right_to_refer", "fos_time_limit", "fos_contact"],
        ),
    },
)
async def transition(
    complaint_id: UUID,
    body: Transition,
    request: Request,
    principal: Annotated[Principal, Depends(require_scope("manage"))],
    deps: Deps,
    idempotency_key: IdempotencyKey = None,
) -> ComplaintView | JSONResponse:
    moved = await lifecycle.move_complaint(
        deps, principal, complaint_id, body, idempotency_key, request.url.path, ComplaintView.of
    )
    return replay(moved) if isinstance(moved, StoredResponse) else moved.view


@router.post(
    "/{complaint_id}/abusive-conduct",
    response_model=ComplaintView,
    summary="Flag abusive conduct towards staff; the complaint moves to a supervisor (scope: file)",
    description=(
        "An agent flags abusive conduct by the customer towards staff (separate from compensation "
        "abuse). Who flags it is the agent of the bearer token (an API key acts for nobody and is "
        "refused). The complaint is escalated to a supervisor (published as "
        "`complaint.status_changed` with reason `abusive_conduct`), the flag is audited in the "
        "history, shows on the customer's complaints (flag `abusive_conduct`) and is counted in "
        "the insights. A complaint is flagged once."
    ),
    responses={
        **NOT_FOUND,
        403: problem_response(
            "Only a person flags abusive conduct: send the agent's bearer token.",
            Forbidden,
            "Only a person flags abusive conduct: send the agent's bearer token, not an API key.",
        ),
        409: problem_response(
            "Flagged already, or the complaint cannot be escalated further.",
            Conflict,
            "Abusive conduct was already flagged on this complaint.",
        ),
    },
)
async def flag_abusive_conduct(
    complaint_id: UUID,
    body: ConductFlag,
    principal: Annotated[Principal, Depends(require_scope("file"))],
    deps: Deps,
) -> ComplaintView:
    return ComplaintView.of(await lifecycle.flag_abusive_conduct(deps, principal, complaint_id, body.note))


@router.get(
    "/{complaint_id}/history",
    summary="Read a complaint's history",
    description="Every change in order: who, when, from which status to which, and why.",
    responses={**RATE_LIMITED, **NOT_FOUND},
)
async def read_history(
    complaint_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))], deps: Deps
) -> ComplaintHistory:
    rows = await complaints.history_for(deps, principal, complaint_id)
    entries = [HistoryEntry.model_validate(r, from_attributes=True) for r in rows]
    return ComplaintHistory(complaint_id=complaint_id, entries=entries)
