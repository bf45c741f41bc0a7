"""Recording a lifecycle change: the new state, its audit row and the events, in one transaction."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import (
    ComplaintDeadlinesChangedV1,
    ComplaintLetterIssuedV1,
    ComplaintStatusChangedV1,
    Deadline,
)
from complaints_common.events.envelope import (
    COMPLAINT_DEADLINES_CHANGED_V1,
    COMPLAINT_LETTER_ISSUED_V1,
    COMPLAINT_STATUS_CHANGED_V1,
    Event,
)
from complaints_common.messaging import Outbox
from complaints_intake.domain.complaint import Status
from complaints_intake.domain.deadlines import DueTime, Letter, compute, pauses_from, shipped_rules
from complaints_intake.domain.journey import Journey
from complaints_intake.domain.letters import LetterDraft
from complaints_intake.domain.lifecycle import Action, Change
from complaints_intake.store.complaints import ComplaintRecord, JourneyRecord, clock_history, save_change
from complaints_intake.store.regulated import insert_letter

SOURCE = "/complaints/intake"
LETTER_ACTIONS = frozenset(letter.value for letter in Letter)


async def record_change(
    session: AsyncConnection,
    outbox: Outbox,
    row: ComplaintRecord | JourneyRecord,
    change: Change,
    *,
    at: datetime,
    actor: str,
    reason: str | None = None,
    note: str | None = None,
    letter: LetterDraft | None = None,
    journey: Journey | None = None,
) -> ComplaintRecord:
    """Save `change` to the complaint in `row`, audit it, and publish what other services need; with
    a `letter`, keep it for the audit and publish it for notifications to send; with a `journey`
    (the step of another service's answer that caused the change), save it too.

    Returns the complaint as it is after the change.
    """
    due_times = await recompute_deadlines(session, row, change, at)
    saved = await save_change(
        session,
        row.id,
        change,
        at=at,
        actor=actor,
        reason=reason,
        note=note,
        outcome=letter.outcome if letter else None,
        redress=letter.redress if letter else None,
        due_times=due_times,
        journey=journey,
    )
    due_times = due_times or []
    deadlines = [Deadline.model_validate(d.as_dict()) for d in due_times]
    if change.publishes_status_change:
        data = ComplaintStatusChangedV1(
            complaint_id=row.id,
            client_id=row.client_id,
            customer_id=row.customer_id,
            from_status=change.before.status,
            to_status=change.after.status,
            reopened=change.action is Action.REOPEN,
            escalated=change.action is Action.ESCALATE,
            escalation_level=change.after.escalation_level,
            reason=reason,
            actor=actor,
            changed_at=at,
            deadlines=deadlines,
            letter_kind=letter.kind if letter else None,
        )
        await outbox.add(session, Event(COMPLAINT_STATUS_CHANGED_V1, data, SOURCE))
    else:
        clock = ComplaintDeadlinesChangedV1(
            complaint_id=row.id, client_id=row.client_id, deadlines=deadlines, changed_at=at
        )
        await outbox.add(session, Event(COMPLAINT_DEADLINES_CHANGED_V1, clock, SOURCE))
    if letter is not None:
        await issue_letter(session, outbox, saved, letter, due_times, at=at, actor=actor)
    return saved


async def issue_letter(
    session: AsyncConnection,
    outbox: Outbox,
    row: ComplaintRecord,
    letter: LetterDraft,
    due_times: list[DueTime],
    *,
    at: datetime,
    actor: str,
) -> None:
    """The letter as sent, kept and published: it tells the customer by when the final response
    comes while that deadline still runs (a holding reply's extended date)."""
    final = next((d for d in due_times if d.name == "final_response" and d.met_at is None), None)
    data = ComplaintLetterIssuedV1(
        complaint_id=row.id,
        client_id=row.client_id,
        letter_id=uuid4(),
        customer_id=row.customer_id,
        kind=letter.kind,
        regime=letter.regime,
        language=letter.language,
        outcome=letter.outcome,
        redress=letter.redress,
        explanation=letter.explanation,
        required_content=letter.required_content,
        respond_by=final.due_at if final else None,
        issued_by=actor,
        issued_at=at,
    )
    await insert_letter(session, data)
    await outbox.add(session, Event(COMPLAINT_LETTER_ISSUED_V1, data, SOURCE))


async def recompute_deadlines(
    session: AsyncConnection, row: ComplaintRecord | JourneyRecord, change: Change, at: datetime
) -> list[DueTime] | None:
    """The complaint's due times from its audited pauses, resumes and status changes, with `change`
    (audited at `at` in the same statement that stores these); None when its profile has no rules."""
    profile = row.deadline_profile
    if profile is None or profile not in shipped_rules().profiles:
        return None
    # The audit so far and the change about to be audited: seq orders the audit, and the change's
    # row comes last (the complaint is locked, so no other change comes between).
    history = [*await clock_history(session, row.id), (change.action.value, at, change.after.status.value)]
    return compute(
        shipped_rules(),
        profile,
        row.filed_at,
        pauses_from([(action, at) for action, at, _ in history]),
        [(Status(to), at) for _, at, to in history if to is not None],
        calendar=row.calendar if row.calendar in shipped_rules().calendars else None,
        letters=[(Letter(action), at) for action, at, _ in history if action in LETTER_ACTIONS],
        reopens=[at for action, at, _ in history if action == Action.REOPEN.value],
    )
