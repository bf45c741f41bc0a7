"""Filing a complaint exactly once: its due times, its links to the customer's earlier complaints,
the customer's flags, and `complaint.created` written in the same statement (store/filing.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import asyncpg

from complaints_common.api import Principal
from complaints_common.events.contracts import Deadline
from complaints_common.events.envelope import COMPLAINT_CREATED_V1, Event
from complaints_common.problems import Conflict
from complaints_intake.application.idempotency import Answer, Once, ShowComplaint, ViewT, replay_of
from complaints_intake.application.regulation import deadline_basis
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.domain.complaint import ComplaintDraft, created_event, reference_for
from complaints_intake.domain.deadlines import compute, shipped_rules
from complaints_intake.domain.repeats import classify, customer_flags
from complaints_intake.events.publishing import SOURCE
from complaints_intake.store.complaints import complaint_with_crm_reference
from complaints_intake.store.filing import Remembered, file, filed_complaint, filing_basis
from complaints_intake.store.idempotency import StoredResponse, stored_response

# A new reference is derived from a new id; two ids sharing their first 40 bits is rare, three never.
REFERENCE_ATTEMPTS = 3
REFERENCE_CONSTRAINT = "uq_complaints_reference"


async def file_complaint(
    deps: IntakeDependencies,
    principal: Principal,
    draft: ComplaintDraft,
    key: str | None,
    path: str,
    show: ShowComplaint[ViewT],
) -> Answer[ViewT] | StoredResponse:
    """The complaint filed, shown; or the first answer to this very request (`key`, POSTed to `path`)."""
    if principal.actor is not None:  # a person's token: they took the complaint, whatever the body says
        draft = draft.model_copy(update={"agent_id": principal.actor.person})
    once = Once.post(principal.client, key, path, draft)
    for attempt in range(1, REFERENCE_ATTEMPTS + 1):
        try:
            return await _file_once(deps, principal, draft, once, show)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == REFERENCE_CONSTRAINT and attempt < REFERENCE_ATTEMPTS:
                continue  # two ids shared their first 40 bits: file again under a new id
            raise await _crm_reference_taken(deps, principal.client, draft.crm_reference) from exc
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _file_once(
    deps: IntakeDependencies,
    principal: Principal,
    draft: ComplaintDraft,
    once: Once,
    show: ShowComplaint[ViewT],
) -> Answer[ViewT] | StoredResponse:
    """File under a new id and reference in two statements, one that reads and one that writes;
    asyncpg.UniqueViolationError when the reference or the CRM reference is taken.

    No transaction spans them: the write is a single statement (all or nothing), and the key's
    primary key guards it, so a concurrent duplicate that read no response yet fails to write,
    then finds the first one's response committed and replays it."""
    complaint_id, filed_at = uuid4(), datetime.now(UTC)
    reference = reference_for(complaint_id, filed_at)
    policy = deps.repeat_policy
    async with deps.runtime.db.autocommit() as connection:
        basis = await filing_basis(
            connection,
            principal.client,
            once.key,
            draft,
            repeats_since=filed_at - policy.repeat_window,
            extreme_since=filed_at - policy.extreme_window,
            extreme_severities=policy.extreme_severities,
        )
        replay = replay_of(once, basis.stored)
        if replay is not None:
            return replay
        profile, calendar = deadline_basis(basis.tenant, basis.category, draft)
        assert profile.name is not None
        due_times = compute(shipped_rules(), profile.name, filed_at, [], [], calendar=calendar.name)
        deadlines = [Deadline.model_validate(d.as_dict()) for d in due_times]
        link = classify(draft.category, draft.product, filed_at, basis.earlier, policy)
        # This complaint counts too: the one that makes the pattern is already held for review.
        flags = customer_flags([*basis.extreme, (draft.severity, filed_at)], filed_at, policy)
        data = created_event(
            complaint_id, reference, principal.client, filed_at, draft, deadlines, link, flags
        )
        complaint = filed_complaint(
            complaint_id=complaint_id,
            reference=reference,
            client_id=principal.client,
            filed_at=filed_at,
            draft=draft,
            link=link,
            profile=profile,
            calendar=calendar,
            due_times=due_times,
        )
        view, location = show(complaint), f"/v1/complaints/{complaint_id}"
        answer, remembered = Answer(view, location), None
        if once.key is not None:
            shown = view.model_dump_json()
            answer = Answer(view, location, shown)
            remembered = Remembered(once.key, once.fingerprint, 201, shown, location)
        event = deps.runtime.outbox.row(Event(COMPLAINT_CREATED_V1, data, SOURCE))
        try:
            await file(connection, complaint, principal.actor_id, event, remembered)
        except asyncpg.UniqueViolationError:
            # Whichever constraint failed first, a request under a key that is now taken was made
            # before, concurrently: the first one's response (committed, or the write would still wait).
            if once.key is not None:
                replay = replay_of(once, await stored_response(connection, once.client_id, once.key))
                if replay is not None:
                    return replay
            raise
    return answer


async def _crm_reference_taken(
    deps: IntakeDependencies, client_id: str, crm_reference: str | None
) -> Conflict:
    """The 409 for a CRM reference already used, naming the complaint that has it."""
    async with deps.runtime.db.transaction() as session:
        existing = (
            await complaint_with_crm_reference(session, client_id, crm_reference) if crm_reference else None
        )
    if existing is None:  # not the CRM reference's constraint: nothing to point at
        return Conflict("This complaint could not be filed because of a conflicting complaint; retry.")
    return Conflict(
        "This CRM reference was already used for another complaint.",
        complaint_id=str(existing),
        complaint_url=f"/v1/complaints/{existing}",
    )
