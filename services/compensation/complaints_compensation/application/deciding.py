"""Deciding compensation. Every decision is judged in the same circumstances (`circumstances`: the
active policy, the customer's history, the moment), under the customer's lock, so caps cannot be
raced past. The automatic decision for a new complaint comes from the policy's rules; an offer a
person makes (their proposal, or the option the customer chose) and a lapsed choice take one path,
`settle_offer`: judged against the authority of who makes it, recorded, published, and the
complaint's options closed with it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.api import Principal
from complaints_common.events.contracts import ComplaintCreatedV1, Money, Offer, OfferKind
from complaints_common.problems import Conflict, or_not_found
from complaints_compensation.dependencies import CompensationDependencies
from complaints_compensation.domain.policy import (
    ComplaintFacts,
    CustomerHistory,
    decide,
    frontline_options,
    judge,
    priced,
    wants_options,
)
from complaints_compensation.domain.rules import ROLES, Policy, Role
from complaints_compensation.store import decisions as store
from complaints_compensation.store import options as option_store
from complaints_compensation.store.decisions import DecisionRecord, KnownComplaint
from complaints_compensation.store.options import OptionStatus

NOT_SEEN = "Compensation has not seen this complaint (yet)."


def acting_role(principal: Principal) -> Role:
    """The authority of the caller: a person's verified role; the agent's for anyone else (an API
    key, an admin or an operator has no granting authority of its own)."""
    role = principal.role
    return role if role in ROLES else "agent"


@dataclass(frozen=True, slots=True)
class Circumstances:
    """What a decision for a complaint is judged in."""

    known: KnownComplaint
    policy: Policy
    history: CustomerHistory
    now: datetime


async def circumstances(
    session: AsyncConnection, deps: CompensationDependencies, known: KnownComplaint
) -> Circumstances:
    """The active policy and the customer's history now; the caller holds the customer's lock.
    The history is read by the policy last seen active, and the same statement says which is active
    now: only when another was activated since is the policy read and the history read again."""
    policy = deps.book.last_seen
    now = datetime.now(UTC)
    order_ref = ComplaintFacts.of(known.complaint).order_ref
    past = await store.customer_history(session, known, policy.abuse, now, order_ref)
    if past.active_policy != policy.version:
        policy = await deps.book.current(session)
        past = await store.customer_history(session, known, policy.abuse, now, order_ref)
    return Circumstances(known, policy, past.history, now)


async def locked_complaint(
    session: AsyncConnection, client_id: str, complaint_id: UUID, missing: str
) -> KnownComplaint:
    """The client's complaint, its customer locked; 404 (`missing`) when compensation has not seen it."""
    known = or_not_found(await store.known_complaint(session, client_id, complaint_id), missing)
    await store.lock_customer(session, client_id, known.complaint.customer.customer_id)
    return known


async def decide_automatically(
    session: AsyncConnection, deps: CompensationDependencies, complaint: ComplaintCreatedV1
) -> None:
    """The automatic decision for a new complaint, at most one whatever the redelivery; where an
    agent is on the line, the options the agent gives the customer instead (two or more)."""
    await store.lock_and_remember(session, complaint)
    moment = await circumstances(session, deps, KnownComplaint.filed(complaint))
    if wants_options(moment.policy, complaint):
        options = frontline_options(moment.policy, complaint, moment.history, moment.now)
        if len(options) >= 2:  # one option is no choice: then the automatic grant, as without an agent
            await deps.recorder.offer_options(session, complaint, options, moment.policy)
            return
    decision = decide(complaint, moment.policy, moment.history, moment.now)
    await deps.recorder.record_new(session, complaint, decision, "auto", moment.policy)


@dataclass(frozen=True, slots=True)
class Closing:
    """What becomes of the complaint's open options with a decision, and who closes them."""

    status: OptionStatus
    by: str
    chosen_option: str | None = None


async def settle_offer(
    session: AsyncConnection,
    deps: CompensationDependencies,
    moment: Circumstances,
    offer_rule_id: str,
    offer: Offer,
    *,
    role: Role,
    closing: Closing,
    reason: str | None = None,
) -> UUID | None:
    """Judge an offer against `role`'s authority and the abuse rules, record and publish it (None
    when it is the automatic one and that exists), and close the complaint's options with it. A
    refused choice leaves them open, for another choice or the lapse; the lapse closes them whatever."""
    complaint = moment.known.complaint
    decision = judge(
        moment.policy, offer_rule_id, offer, complaint, moment.history, moment.now, proposer_role=role
    )
    if reason:
        decision = replace(decision, reason=decision.reason or reason)
    try:
        decision_id = await deps.recorder.record_new(session, complaint, decision, closing.by, moment.policy)
    except store.DecisionConflict as exc:
        raise Conflict("The complaint or its order already has a compensation.") from exc
    if decision.status != "refused" or closing.status == "lapsed":
        await option_store.close(
            session,
            complaint.complaint_id,
            status=closing.status,
            chosen_option=closing.chosen_option,
            closed_by=closing.by,
            closed_at=moment.now,
            decision_id=decision_id,
        )
    return decision_id


async def settle_callers_offer(
    session: AsyncConnection,
    deps: CompensationDependencies,
    moment: Circumstances,
    offer_rule_id: str,
    offer: Offer,
    caller: Principal,
    closing: Closing,
    reason: str | None = None,
) -> DecisionRecord:
    """An offer the caller makes, with the caller's verified authority: the decision as stored."""
    role = acting_role(caller)
    decision_id = await settle_offer(
        session, deps, moment, offer_rule_id, offer, role=role, closing=closing, reason=reason
    )
    assert decision_id is not None  # only the automatic decision is ever skipped
    decided = await store.decision_by_id(session, caller.client, decision_id)
    assert decided is not None
    return decided


@dataclass(frozen=True, slots=True)
class Proposal:
    """What an agent offers, valued at retail; its cost is worked out from the policy."""

    kind: OfferKind
    description: str
    value: Money
    percentage: Decimal | None


async def propose_compensation(
    deps: CompensationDependencies, caller: Principal, complaint_id: UUID, proposal: Proposal
) -> DecisionRecord:
    """An agent's own offer for a complaint with no live compensation; within the caller's
    authority it is granted at once, above it it waits for approval."""
    async with deps.runtime.db.transaction() as session:
        known = await locked_complaint(session, caller.client, complaint_id, NOT_SEEN)
        if await store.has_live_decision(session, complaint_id):
            raise Conflict("The complaint already has a granted or waiting compensation.")
        moment = await circumstances(session, deps, known)
        kind, value = proposal.kind, proposal.value
        offer = priced(moment.policy, kind, proposal.description, value, proposal.percentage)
        closing = Closing("proposed", caller.actor_id)
        return await settle_callers_offer(session, deps, moment, "proposal", offer, caller, closing)
