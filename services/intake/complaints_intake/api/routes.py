"""The CRM-facing complaint API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.api import Principal, require_scope
from complaints_common.events.contracts import Deadline
from complaints_common.events.envelope import COMPLAINT_CREATED_V1, Event
from complaints_common.openapi import problem_response
from complaints_common.problems import Conflict, Forbidden, NotFound, Unprocessable
from complaints_intake.api.docs import NOT_FOUND, RATE_LIMITED
from complaints_intake.api.idempotency import (
    IdempotencyKey,
    IdempotencyKeyReused,
    remember,
    replay_if_seen,
    request_hash,
)
from complaints_intake.api.models import (
    ComplaintHistory,
    ComplaintView,
    ConductFlag,
    FileComplaint,
    HistoryEntry,
    Transition,
)
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.domain.complaint import created_event, reference_for
from complaints_intake.domain.deadlines import compute, shipped_rules
from complaints_intake.domain.letters import LetterIncomplete
from complaints_intake.domain.lifecycle import Action, IllegalTransition, apply
from complaints_intake.domain.repeats import classify, customer_flags
from complaints_intake.events.publishing import SOURCE, record_change
from complaints_intake.regulation import deadline_basis, letter_for
from complaints_intake.store.complaints import (
    ABUSIVE_CONDUCT,
    ComplaintRecord,
    complaint_with_crm_reference,
    get_complaint,
    history_of,
    insert_complaint,
    set_abusive_conduct,
)
from complaints_intake.store.search import earlier_complaints, severities_of

# A new reference is derived from a new id; two ids sharing their first 40 bits is rare, three never.
REFERENCE_ATTEMPTS = 3


def violated(exc: IntegrityError) -> str | None:
    """The name of the constraint a unique violation broke (asyncpg names it)."""
    return getattr(exc.orig.__cause__, "constraint_name", None) if exc.orig is not None else None


def may_see(principal: Principal, row: ComplaintRecord) -> bool:
    """Same client, and for a confidential complaint a key allowed to read confidential ones."""
    if row.client_id != principal.client:
        return False
    if row.confidential:
        return principal.sees_confidential
    return True


async def visible_complaint(
    session: AsyncConnection, complaint_id: UUID, principal: Principal, *, for_update: bool = False
) -> ComplaintRecord:
    """The complaint, or 404 alike for "absent" and "not yours" so ids reveal nothing."""
    row = await get_complaint(session, complaint_id, for_update=for_update)
    if row is None or not may_see(principal, row):
        raise NotFound("No complaint with this id.")
    return row


def complaint_router(deps: IntakeDependencies) -> APIRouter:
    runtime = deps.runtime
    router = APIRouter(prefix="/v1/complaints", tags=["complaints"])

    async def file_once(
        body: FileComplaint, principal: Principal, fingerprint: str, idempotency_key: str | None
    ) -> tuple[ComplaintView, str] | JSONResponse:
        """File under a new id and reference; IntegrityError when the reference or the CRM
        reference is taken."""
        complaint_id, filed_at = uuid4(), datetime.now(UTC)
        reference = reference_for(complaint_id, filed_at)
        location = f"/v1/complaints/{complaint_id}"
        async with runtime.db.transaction() as session:
            replay = await replay_if_seen(session, principal.client, idempotency_key, fingerprint)
            if replay is not None:
                return replay
            profile, calendar = await deadline_basis(session, principal.client, body)
            assert profile.name is not None
            due_times = compute(shipped_rules(), profile.name, filed_at, [], [], calendar=calendar.name)
            deadlines = [Deadline.model_validate(d.as_dict()) for d in due_times]
            policy = deps.repeat_policy
            customer_id = body.customer.customer_id
            earlier = await earlier_complaints(
                session, principal.client, customer_id, filed_at - policy.repeat_window
            )
            link = classify(body.category, body.product, filed_at, earlier, policy)
            # This complaint counts too: the one that makes the pattern is already held for review.
            severities = await severities_of(
                session, principal.client, customer_id, filed_at - policy.extreme_window
            )
            flags = customer_flags([*severities, (body.severity, filed_at)], filed_at, policy)
            event = Event(
                COMPLAINT_CREATED_V1,
                created_event(
                    complaint_id, reference, principal.client, filed_at, body, deadlines, link, flags
                ),
                SOURCE,
            )
            row = await insert_complaint(
                session,
                complaint_id=complaint_id,
                reference=reference,
                client_id=principal.client,
                filed_at=filed_at,
                draft=body,
                actor=principal.actor_id,
                link=link,
                profile=profile,
                calendar=calendar,
                due_times=due_times,
            )
            await runtime.outbox.add(session, event)
            view = ComplaintView.of(row)
            await remember(session, principal.client, idempotency_key, 201, view, location)
        return view, location

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
        response: Response,
        principal: Annotated[Principal, Depends(require_scope("file"))],
        idempotency_key: IdempotencyKey = None,
    ) -> ComplaintView | JSONResponse:
        if principal.actor is not None:  # a person's token: they took the complaint, whatever the body says
            body = body.model_copy(update={"agent_id": principal.actor.person})
        fingerprint = request_hash("POST", request.url.path, body)
        for attempt in range(1, REFERENCE_ATTEMPTS + 1):
            try:
                filed = await file_once(body, principal, fingerprint, idempotency_key)
            except IntegrityError as exc:
                if violated(exc) == "uq_complaints_reference" and attempt < REFERENCE_ATTEMPTS:
                    continue  # two ids shared their first 40 bits: file again under a new id
                raise await crm_reference_taken(principal.client, body.crm_reference) from exc
            break
        if isinstance(filed, JSONResponse):
            return filed
        view, location = filed
        response.headers["Location"] = location
        return view

    async def crm_reference_taken(client_id: str, crm_reference: str | None) -> Conflict:
        """The 409 for a CRM reference already used, naming the complaint that has it."""
        async with runtime.db.transaction() as session:
            existing = (
                await complaint_with_crm_reference(session, client_id, crm_reference)
                if crm_reference
                else None
            )
        if existing is None:  # not the CRM reference's constraint: nothing to point at
            return Conflict("This complaint could not be filed because of a conflicting complaint; retry.")
        return Conflict(
            "This CRM reference was already used for another complaint.",
            complaint_id=str(existing),
            complaint_url=f"/v1/complaints/{existing}",
        )

    @router.get(
        "/{complaint_id}",
        summary="Read a complaint",
        description="The complaint with its status, due times and journey through the other services.",
        responses={**RATE_LIMITED, **NOT_FOUND},
    )
    async def read_complaint(
        complaint_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))]
    ) -> ComplaintView:
        async with runtime.db.transaction() as session:
            row = await visible_complaint(session, complaint_id, principal)
        return ComplaintView.of(row)

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
        idempotency_key: IdempotencyKey = None,
    ) -> ComplaintView | JSONResponse:
        fingerprint = request_hash("POST", request.url.path, body)
        async with runtime.db.transaction() as session:
            replay = await replay_if_seen(session, principal.client, idempotency_key, fingerprint)
            if replay is not None:
                return replay
            row = await visible_complaint(session, complaint_id, principal, for_update=True)
            now = datetime.now(UTC)
            try:
                change = apply(row.lifecycle, body.action, body.root_cause, at=now)
                letter = letter_for(row, body)
            except IllegalTransition as exc:
                raise IllegalTransitionProblem(str(exc)) from exc
            except LetterIncomplete as exc:
                raise LetterIncompleteProblem(str(exc), missing=exc.missing) from exc
            updated = await record_change(
                session,
                runtime.outbox,
                row,
                change,
                at=now,
                actor=principal.actor_id,
                reason=body.reason,
                note=body.note,
                letter=letter,
            )
            view = ComplaintView.of(updated)
            await remember(session, principal.client, idempotency_key, 200, view, None)
        return view

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
    ) -> ComplaintView:
        if principal.actor is None:
            raise Forbidden(
                "Only a person flags abusive conduct: send the agent's bearer token, not an API key."
            )
        async with runtime.db.transaction() as session:
            row = await visible_complaint(session, complaint_id, principal, for_update=True)
            if row.abusive_conduct_at is not None:
                raise Conflict("Abusive conduct was already flagged on this complaint.")
            now = datetime.now(UTC)
            try:
                change = apply(row.lifecycle, Action.ESCALATE, at=now)
            except IllegalTransition as exc:
                raise IllegalTransitionProblem(str(exc)) from exc
            await set_abusive_conduct(session, complaint_id, now, principal.actor_id)
            updated = await record_change(
                session,
                runtime.outbox,
                row,
                change,
                at=now,
                actor=principal.actor_id,
                reason=ABUSIVE_CONDUCT,
                note=body.note,
            )
        return ComplaintView.of(updated)

    @router.get(
        "/{complaint_id}/history",
        summary="Read a complaint's history",
        description="Every change in order: who, when, from which status to which, and why.",
        responses={**RATE_LIMITED, **NOT_FOUND},
    )
    async def read_history(
        complaint_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))]
    ) -> ComplaintHistory:
        async with runtime.db.transaction() as session:
            await visible_complaint(session, complaint_id, principal)
            rows = await history_of(session, complaint_id)
        return ComplaintHistory(
            complaint_id=complaint_id,
            entries=[HistoryEntry.model_validate(r, from_attributes=True) for r in rows],
        )

    return router


class LetterIncompleteProblem(Unprocessable):
    type_ = "letter-incomplete"
    title = "The letter lacks content its regulator requires."


class IllegalTransitionProblem(Conflict):
    type_ = "illegal-transition"
    title = "The complaint's state does not allow this action."
