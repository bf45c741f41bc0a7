"""Signing off decisions above frontline authority: approving (at the last level needed, the
grant) and rejecting, four eyes, with the customer's caps checked again before a grant."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.api import Principal
from complaints_common.problems import Conflict, Forbidden
from complaints_compensation.application.decisions import locked_decision
from complaints_compensation.dependencies import CompensationDependencies
from complaints_compensation.domain import approvals
from complaints_compensation.domain.policy import cap_check
from complaints_compensation.domain.rules import ROLES, Policy, Role
from complaints_compensation.store import decisions as store
from complaints_compensation.store.decisions import DecisionRecord, Signoff

SignOffAction = Literal["approve", "reject"]


async def sign_off(
    deps: CompensationDependencies,
    caller: Principal,
    decision_id: UUID,
    action: SignOffAction,
    reason: str | None,
) -> DecisionRecord:
    """The caller (a person with a supervisor's or manager's verified role) signs a waiting decision."""
    async with deps.runtime.db.transaction() as session:
        waiting = await locked_decision(session, caller.client, decision_id)
        if caller.actor is None:
            raise Forbidden("Only a person signs off: send their bearer token, not an API key.")
        approver, role = caller.actor.person, caller.role
        if role not in ROLES:
            raise Forbidden(f"A {role} has no approval authority; a supervisor or manager signs.")
        policy = await deps.book.current(session)
        outcome = _outcome(waiting, approver, role, action, policy)
        if outcome.outcome == "granted":
            await recheck_caps(session, waiting, policy)
        signoff = Signoff(
            by=approver, role=role, action=action, reason=reason, at=datetime.now(UTC).isoformat()
        )
        signed = replace(waiting, signoffs=(*waiting.signoffs, signoff))
        return await _apply(session, deps, signed, outcome, reason, approver, role, policy)


def _outcome(
    decision: DecisionRecord, approver: str, role: Role, action: SignOffAction, policy: Policy
) -> approvals.SignOff:
    waiting = approvals.Waiting(
        status=decision.status,
        proposed_by=decision.proposed_by,
        signed_by=tuple((s["by"], s["role"]) for s in decision.signoffs),
        value=decision.offer.value,
    )
    try:
        if action == "approve":
            return approvals.approve(waiting, approver, role, policy)
        return approvals.reject(waiting, approver, role)
    except approvals.SignOffRefused as exc:
        raise (Conflict if exc.conflict else Forbidden)(str(exc)) from exc


async def recheck_caps(session: AsyncConnection, decision: DecisionRecord, policy: Policy) -> None:
    """The customer's caps again, under the customer's lock, with every other live decision:
    what was within them when proposed may not be now."""
    known = await store.known_complaint(session, decision.client_id, decision.complaint_id)
    assert known is not None  # a decision is made for a known complaint
    now = datetime.now(UTC)
    past = await store.customer_history(
        session, known, policy.abuse, now, decision.order_ref, exclude=decision.id
    )
    capped = cap_check(policy, decision.offer, past.history)
    if capped is not None:
        _, rule_id, why = capped
        raise Conflict(f"Granting it would break {rule_id}: {why}.")


async def _apply(
    session: AsyncConnection,
    deps: CompensationDependencies,
    signed: DecisionRecord,
    outcome: approvals.SignOff,
    reason: str | None,
    approver: str,
    role: Role,
    policy: Policy,
) -> DecisionRecord:
    if outcome.outcome == "granted":
        return await deps.recorder.grant_on_approval(session, signed, approver, role, policy)
    if outcome.outcome == "rejected":
        signed = replace(signed, status="rejected", reason=reason, settled_at=datetime.now(UTC))
    else:
        signed = replace(
            signed, status="pending_approval", reason=f"signed by a {role}; awaits a {outcome.awaiting}"
        )
    await store.save_signoff(session, signed)
    await deps.recorder.publish_recorded(session, signed, decided_by=approver)
    return signed
