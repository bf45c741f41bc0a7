"""Moving a complaint through its life (acknowledge, start, resolve, close, reopen, escalate, pause,
resume and the regulatory letters), and flagging abusive conduct towards staff, which escalates it."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from complaints_common.api import Principal
from complaints_common.problems import Conflict, Forbidden, Unprocessable
from complaints_intake.api.models import Transition
from complaints_intake.application.complaints import visible_complaint
from complaints_intake.application.idempotency import Answer, Once, ShowComplaint, ViewT, remember, replayed
from complaints_intake.application.regulation import letter_for
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.domain.letters import LetterIncomplete
from complaints_intake.domain.lifecycle import Action, IllegalTransition, apply
from complaints_intake.events.publishing import record_change
from complaints_intake.store.complaints import ABUSIVE_CONDUCT, ComplaintRecord, set_abusive_conduct
from complaints_intake.store.idempotency import StoredResponse


class LetterIncompleteProblem(Unprocessable):
    type_ = "letter-incomplete"
    title = "The letter lacks content its regulator requires."


class IllegalTransitionProblem(Conflict):
    type_ = "illegal-transition"
    title = "The complaint's state does not allow this action."


async def move_complaint(
    deps: IntakeDependencies,
    principal: Principal,
    complaint_id: UUID,
    step: Transition,
    key: str | None,
    path: str,
    show: ShowComplaint[ViewT],
) -> Answer[ViewT] | StoredResponse:
    """Apply the step (with its letter, if it sends one), audited and published; or the first
    answer to this very request (`key`, POSTed to `path`)."""
    once = Once.post(principal.client, key, path, step)
    async with deps.runtime.db.transaction() as session:
        replay = await replayed(session, once)
        if replay is not None:
            return replay
        complaint = await visible_complaint(session, complaint_id, principal, for_update=True)
        now = datetime.now(UTC)
        try:
            change = apply(complaint.lifecycle, step.action, step.root_cause, at=now)
            letter = letter_for(complaint, step)
        except IllegalTransition as exc:
            raise IllegalTransitionProblem(str(exc)) from exc
        except LetterIncomplete as exc:
            raise LetterIncompleteProblem(str(exc), missing=exc.missing) from exc
        updated = await record_change(
            session,
            deps.runtime.outbox,
            complaint,
            change,
            at=now,
            actor=principal.actor_id,
            reason=step.reason,
            note=step.note,
            letter=letter,
        )
        answer = Answer(show(updated))
        await remember(session, once, 200, answer)
    return answer


async def flag_abusive_conduct(
    deps: IntakeDependencies, principal: Principal, complaint_id: UUID, note: str | None
) -> ComplaintRecord:
    """Flag it once and escalate the complaint to a supervisor, audited and published. Only a
    person flags it (whoever the bearer token names), never an API key."""
    if principal.actor is None:
        raise Forbidden("Only a person flags abusive conduct: send the agent's bearer token, not an API key.")
    async with deps.runtime.db.transaction() as session:
        complaint = await visible_complaint(session, complaint_id, principal, for_update=True)
        if complaint.abusive_conduct_at is not None:
            raise Conflict("Abusive conduct was already flagged on this complaint.")
        now = datetime.now(UTC)
        try:
            change = apply(complaint.lifecycle, Action.ESCALATE, at=now)
        except IllegalTransition as exc:
            raise IllegalTransitionProblem(str(exc)) from exc
        await set_abusive_conduct(session, complaint_id, now, principal.actor_id)
        return await record_change(
            session,
            deps.runtime.outbox,
            complaint,
            change,
            at=now,
            actor=principal.actor_id,
            reason=ABUSIVE_CONDUCT,
            note=note,
        )
