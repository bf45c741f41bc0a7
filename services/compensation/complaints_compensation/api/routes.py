"""Compensation's REST API: decisions, proposals, approvals, vouchers, policy and reports."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.api import Principal, platform_operator, require_scope
from complaints_common.events.contracts import ComplaintCreatedV1, DecisionStatus, Offer
from complaints_common.openapi import VALIDATION_EXAMPLE, problem_response
from complaints_common.problems import Conflict, Forbidden, NotFound, RequestValidationFailed
from complaints_common.runtime import Runtime
from complaints_common.validation import QueryTime
from complaints_compensation.api.models import (
    ChoiceRequest,
    ClawbackRequest,
    DecisionPage,
    DecisionView,
    OptionSetView,
    OptionView,
    PolicyVersion,
    ProposalRequest,
    RejectRequest,
    SignOffRequest,
    SpendReport,
    VoucherAction,
)
from complaints_compensation.domain import approvals
from complaints_compensation.domain.policy import ComplaintFacts, cap_check, judge, priced, required_role
from complaints_compensation.domain.rules import ROLES, Policy, Role
from complaints_compensation.recording import Recorder, components
from complaints_compensation.store import decisions as store
from complaints_compensation.store import options as option_store
from complaints_compensation.store import policies as policy_store
from complaints_compensation.store import reports

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[
    int, Query(ge=0, le=10_000, description="Rows to skip (at most 10,000: narrow the filter).")
]


NO_SUCH_DECISION = "No such decision."
NO_OPTIONS = "No options for this complaint: it had no agent on the line, or compensation has not seen it."
SIGN_OFF_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: problem_response(
        "The approver may not sign: not a person's token, own proposal, signed already, or too junior.",
        Forbidden,
        "Four eyes: this person has already signed this decision.",
    ),
    404: problem_response(NO_SUCH_DECISION, NotFound, NO_SUCH_DECISION),
    409: problem_response(
        "The decision is not waiting for approval, or granting it would pass the customer's caps.",
        Conflict,
        "The decision is granted, not waiting for approval.",
    ),
}


def acting_role(principal: Principal) -> Role:
    """The authority of the caller: a person's verified role; the agent's for anyone else (an API
    key, an admin or an operator has no granting authority of its own)."""
    role = principal.role
    return role if role in ROLES else "agent"


def view(row: dict[str, Any] | None, missing: str) -> DecisionView:
    if row is None:
        raise NotFound(missing)
    return DecisionView.model_validate(row)


def page(rows: list[dict[str, Any]], limit: int, offset: int) -> DecisionPage:
    return DecisionPage(items=[DecisionView.model_validate(r) for r in rows], limit=limit, offset=offset)


async def locked_decision(session: AsyncConnection, client_id: str, decision_id: UUID) -> dict[str, Any]:
    """The client's decision, its customer locked (caps are checked under that lock) and then the
    row itself; 404 alike for "absent" and "another client's"."""
    found = await store.decision_by_id(session, client_id, decision_id)
    if found is None:
        raise NotFound(NO_SUCH_DECISION)
    await store.lock_customer(session, client_id, found["customer_id"])
    row = await store.decision_by_id(session, client_id, decision_id, for_update=True)
    assert row is not None  # decisions are never deleted
    return row


async def record_callers_offer(
    session: AsyncConnection,
    recorder: Recorder,
    policy: Policy,
    known: tuple[ComplaintCreatedV1, str | None, str | None],
    offer: Offer,
    offer_rule_id: str,
    principal: Principal,
    closing: dict[str, Any],
    reason: str | None = None,
) -> dict[str, Any]:
    """An offer the caller makes (their own proposal, or the option the customer chose): judged
    against the caller's verified authority and the abuse rules, recorded and published, and the
    complaint's options closed with it (`closing`), unless an abuse rule refused it: then they stay
    open, for another choice or the lapse. The customer's lock is the caller's to hold."""
    complaint, email, phone = known
    now = datetime.now(UTC)
    order_ref = ComplaintFacts.of(complaint).order_ref
    history = await store.customer_history(session, complaint, policy.abuse, now, (email, phone), order_ref)
    role = acting_role(principal)
    decision = judge(policy, offer_rule_id, offer, complaint, history, now, proposer_role=role)
    if reason:
        decision = replace(decision, reason=decision.reason or reason)
    try:
        decision_id = await recorder.record_new(session, complaint, decision, principal.actor_id, policy)
    except IntegrityError as exc:
        raise Conflict("The complaint or its order already has a compensation.") from exc
    assert decision_id is not None  # only the automatic decision is ever skipped
    if decision.status != "refused":
        await option_store.close(
            session,
            complaint.complaint_id,
            **closing,
            closed_by=principal.actor_id,
            closed_at=now,
            decision_id=decision_id,
        )
    row = await store.decision_by_id(session, principal.client, decision_id)
    assert row is not None
    return row


def decision_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["decisions"])
    book, recorder = components(runtime)

    @router.get(
        "/complaints/{complaint_id}/decision",
        summary="The latest compensation decision for a complaint",
        responses={
            404: problem_response(
                "No decision (yet) for this complaint.",
                NotFound,
                "No compensation decision for this complaint yet.",
            )
        },
    )
    async def read_decision(
        complaint_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))]
    ) -> DecisionView:
        async with runtime.db.transaction() as session:
            row = await store.decision_for(session, principal.client, complaint_id)
        return view(row, "No compensation decision for this complaint yet.")

    @router.get(
        "/decisions",
        summary="The audit trail: decisions by customer, status, complaint or rule, newest first",
    )
    async def list_decisions(
        principal: Annotated[Principal, Depends(require_scope("read"))],
        customer_id: Annotated[str | None, Query(max_length=100)] = None,
        status: DecisionStatus | None = None,
        complaint_id: UUID | None = None,
        rule_id: Annotated[str | None, Query(max_length=100)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> DecisionPage:
        query = store.search(
            principal.client,
            customer_id=customer_id,
            status=status,
            complaint_id=complaint_id,
            rule_id=rule_id,
        )
        async with runtime.db.transaction() as session:
            rows = await store.find_decisions(session, query, limit, offset)
        return page(rows, limit, offset)

    @router.get(
        "/decisions/{decision_id}",
        summary="One decision with its sign-offs",
        responses={404: problem_response(NO_SUCH_DECISION, NotFound, NO_SUCH_DECISION)},
    )
    async def read_one(
        decision_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))]
    ) -> DecisionView:
        async with runtime.db.transaction() as session:
            row = await store.decision_by_id(session, principal.client, decision_id)
        return view(row, NO_SUCH_DECISION)

    @router.post(
        "/complaints/{complaint_id}/proposals",
        status_code=201,
        summary="An agent proposes compensation; within the agent's limit it is granted at once",
        responses={
            404: problem_response(
                "Compensation has not seen this complaint (yet).",
                NotFound,
                "Compensation has not seen this complaint (yet).",
            ),
            409: problem_response(
                "The complaint already has a live compensation.",
                Conflict,
                "The complaint already has a granted or waiting compensation.",
            ),
        },
    )
    async def propose(
        complaint_id: UUID,
        body: ProposalRequest,
        principal: Annotated[Principal, Depends(require_scope("file"))],
    ) -> DecisionView:
        async with runtime.db.transaction() as session:
            known = await store.known_complaint(session, principal.client, complaint_id)
            if known is None:
                raise NotFound("Compensation has not seen this complaint (yet).")
            complaint = known[0]
            await store.lock_customer(session, principal.client, complaint.customer.customer_id)
            if await store.has_live_decision(session, complaint_id):
                raise Conflict("The complaint already has a granted or waiting compensation.")
            policy = await book.current(session)
            proposed = body.offer
            offer = priced(policy, proposed.kind, proposed.description, proposed.value, proposed.percentage)
            row = await record_callers_offer(
                session, recorder, policy, known, offer, "proposal", principal, {"status": "proposed"}
            )
        return DecisionView.model_validate(row)

    return router


def option_router(runtime: Runtime) -> APIRouter:
    """The front line's options: what the agent may offer, and the customer's choice."""
    router = APIRouter(prefix="/v1", tags=["options"])
    book, recorder = components(runtime)

    @router.get(
        "/complaints/{complaint_id}/options",
        summary="The offers the agent may make the customer, and what became of them (scope: read)",
        description=(
            "Where an agent was on the line (the complaint names its agent and came in on one of the "
            "policy's `frontline_options.channels`), two or three offers of different kinds, each "
            "within the front line's authority for this customer. `within_your_authority` is the "
            "caller's own verified role's limit (an API key has the agent's)."
        ),
        responses={404: problem_response(NO_OPTIONS, NotFound, NO_OPTIONS)},
    )
    async def read_options(
        complaint_id: UUID, principal: Annotated[Principal, Depends(require_scope("read"))]
    ) -> OptionSetView:
        async with runtime.db.transaction() as session:
            row = await option_store.option_set(session, principal.client, complaint_id)
            if row is None:
                raise NotFound(NO_OPTIONS)
            policy = await book.current(session)
            known = await store.known_complaint(session, principal.client, complaint_id)
        assert known is not None  # options are made for a known complaint
        tier = known[0].customer.tier
        role = acting_role(principal)

        def within(offer: Offer) -> bool:
            needed = required_role(policy, offer.value, tier)
            return needed is not None and ROLES.index(needed) <= ROLES.index(role)

        options = [Offer.model_validate(o["offer"]) for o in row["options"]]
        return OptionSetView.model_validate(
            row
            | {
                "options": [
                    OptionView(option_id=o["option_id"], offer=offer, within_your_authority=within(offer))
                    for o, offer in zip(row["options"], options, strict=True)
                ]
            }
        )

    @router.post(
        "/complaints/{complaint_id}/choice",
        status_code=201,
        summary="Record the customer's choice; within the caller's authority it is granted (scope: file)",
        description=(
            "Who records the choice, and with which authority, is the authenticated caller (a person's "
            "verified role; an API key has the agent's limit). Within that authority the offer is "
            "granted at once and the customer told; above it, it waits for approval like a proposal."
        ),
        responses={
            404: problem_response(
                NO_OPTIONS + " Or the option id is not one of the complaint's options.",
                NotFound,
                "'refund' is not one of this complaint's options.",
            ),
            409: problem_response(
                "The options are closed: chosen, proposed over or lapsed.",
                Conflict,
                "The options are chosen.",
            ),
        },
    )
    async def choose(
        complaint_id: UUID,
        body: ChoiceRequest,
        principal: Annotated[Principal, Depends(require_scope("file"))],
    ) -> DecisionView:
        async with runtime.db.transaction() as session:
            known = await store.known_complaint(session, principal.client, complaint_id)
            if known is None:
                raise NotFound(NO_OPTIONS)
            complaint = known[0]
            await store.lock_customer(session, principal.client, complaint.customer.customer_id)
            row = await option_store.option_set(session, principal.client, complaint_id, for_update=True)
            if row is None:
                raise NotFound(NO_OPTIONS)
            if row["status"] != "open":
                raise Conflict(f"The options are {row['status']}.")
            chosen = next((o for o in row["options"] if o["option_id"] == body.option_id), None)
            if chosen is None:
                raise NotFound(f"{body.option_id!r} is not one of this complaint's options.")
            policy = await book.current(session)
            offer = Offer.model_validate(chosen["offer"])
            closing = {"status": "chosen", "chosen_option": body.option_id}
            decided = await record_callers_offer(
                session, recorder, policy, known, offer, body.option_id, principal, closing, body.reason
            )
        return DecisionView.model_validate(decided)

    return router


def approval_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["approvals"])
    book, recorder = components(runtime)

    @router.get("/approvals", summary="Decisions waiting for a supervisor or manager, oldest first")
    async def waiting(
        principal: Annotated[Principal, Depends(require_scope("manage"))],
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> DecisionPage:
        async with runtime.db.transaction() as session:
            rows = await reports.waiting(session, principal.client, limit, offset)
        return page(rows, limit, offset)

    async def _sign(
        decision_id: UUID, body: SignOffRequest, principal: Principal, action: Literal["approve", "reject"]
    ) -> DecisionView:
        async with runtime.db.transaction() as session:
            row = await locked_decision(session, principal.client, decision_id)
            if principal.actor is None:
                raise Forbidden("Only a person signs off: send their bearer token, not an API key.")
            approver, role = principal.actor.person, principal.role
            if role not in ROLES:
                raise Forbidden(f"A {role} has no approval authority; a supervisor or manager signs.")
            policy = await book.current(session)
            offer = Offer.model_validate(row["offer"])
            waiting = approvals.Waiting(
                status=row["status"],
                proposed_by=row["proposed_by"],
                signed_by=tuple((s["by"], s["role"]) for s in row["signoffs"]),
                value=offer.value,
            )
            try:
                outcome = (
                    approvals.approve(waiting, approver, role, policy)
                    if action == "approve"
                    else approvals.reject(waiting, approver, role)
                )
            except approvals.SignOffRefused as exc:
                raise (Conflict if exc.conflict else Forbidden)(str(exc)) from exc
            if outcome.outcome == "granted":
                await recheck_caps(session, principal.client, row, offer, policy)
            signoff = {
                "by": approver,
                "role": role,
                "action": action,
                "reason": body.reason,
                "at": datetime.now(UTC).isoformat(),
            }
            row["signoffs"] = [*row["signoffs"], signoff]
            row = await _apply(session, row, outcome, body, approver, role, policy)
        return DecisionView.model_validate(row)

    async def recheck_caps(
        session: AsyncConnection, client_id: str, row: dict[str, Any], offer: Offer, policy: Policy
    ) -> None:
        """The customer's caps again, under the customer's lock, with every other live decision:
        what was within them when proposed may not be now."""
        known = await store.known_complaint(session, client_id, row["complaint_id"])
        assert known is not None  # a decision is made for a known complaint
        complaint, email, phone = known
        now = datetime.now(UTC)
        history = await store.customer_history(
            session, complaint, policy.abuse, now, (email, phone), row["order_ref"], exclude=row["id"]
        )
        capped = cap_check(policy, offer, history)
        if capped is not None:
            _, rule_id, reason = capped
            raise Conflict(f"Granting it would break {rule_id}: {reason}.")

    async def _apply(
        session: Any,
        row: dict[str, Any],
        outcome: approvals.SignOff,
        body: SignOffRequest,
        approver: str,
        role: Role,
        policy: Policy,
    ) -> dict[str, Any]:
        if outcome.outcome == "granted":
            return await recorder.grant_on_approval(session, row, approver, role, policy)
        if outcome.outcome == "rejected":
            row |= {"status": "rejected", "reason": body.reason, "settled_at": datetime.now(UTC)}
            await store.update_decision(
                session,
                row["id"],
                status="rejected",
                reason=body.reason,
                signoffs=row["signoffs"],
                settled_at=row["settled_at"],
            )
        else:
            row |= {
                "status": "pending_approval",
                "reason": f"signed by a {role}; awaits a {outcome.awaiting}",
            }
            await store.update_decision(
                session, row["id"], status=row["status"], reason=row["reason"], signoffs=row["signoffs"]
            )
        await recorder.publish_recorded(session, row, decided_by=approver)
        return row

    @router.post(
        "/decisions/{decision_id}/approve",
        summary="Approve a waiting decision; above the approver's limit it passes to the next level",
        responses=SIGN_OFF_RESPONSES,
    )
    async def approve(
        decision_id: UUID,
        body: SignOffRequest,
        principal: Annotated[Principal, Depends(require_scope("manage"))],
    ) -> DecisionView:
        return await _sign(decision_id, body, principal, "approve")

    @router.post(
        "/decisions/{decision_id}/reject",
        summary="Reject a waiting decision, with a reason",
        responses=SIGN_OFF_RESPONSES,
    )
    async def reject(
        decision_id: UUID,
        body: RejectRequest,
        principal: Annotated[Principal, Depends(require_scope("manage"))],
    ) -> DecisionView:
        return await _sign(decision_id, body, principal, "reject")

    return router


def voucher_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["vouchers"])
    _, recorder = components(runtime)

    @router.post(
        "/vouchers/{code}/redeem",
        summary="Redeem a voucher: single use, before its expiry",
        responses={
            404: problem_response("No such voucher.", NotFound, "No such voucher."),
            409: problem_response(
                "Already used, expired or clawed back.", Conflict, "The voucher is redeemed."
            ),
        },
    )
    async def redeem(
        code: Annotated[str, Path(max_length=64)],
        body: VoucherAction,
        principal: Annotated[Principal, Depends(require_scope("manage"))],
    ) -> DecisionView:
        async with runtime.db.transaction() as session:
            row = await reports.voucher(session, principal.client, code)
            if row is None:
                raise NotFound("No such voucher.")
            status = row["voucher_status"]
            if status == "active" and row["voucher_expires_at"] <= datetime.now(UTC):
                status = "expired"  # not written here: the Conflict rolls back; the expiry loop marks it
            if status != "active":
                raise Conflict(f"The voucher is {status}.")
            await _change(session, row, "redeemed", principal.actor_id, body.reason)
        return DecisionView.model_validate(row)

    @router.post(
        "/decisions/{decision_id}/clawback",
        summary="Claw back a grant later found abusive; its voucher can no longer be used",
        responses={
            404: problem_response(NO_SUCH_DECISION, NotFound, NO_SUCH_DECISION),
            409: problem_response(
                "Not a granted decision, or clawed back already.",
                Conflict,
                "Only a granted decision can be clawed back, once.",
            ),
        },
    )
    async def claw_back(
        decision_id: UUID,
        body: ClawbackRequest,
        principal: Annotated[Principal, Depends(require_scope("manage"))],
    ) -> DecisionView:
        async with runtime.db.transaction() as session:
            row = await locked_decision(session, principal.client, decision_id)
            if row["status"] != "granted" or row["voucher_status"] == "clawed_back":
                raise Conflict("Only a granted decision can be clawed back, once.")
            await _change(session, row, "clawed_back", principal.actor_id, body.reason)
        return DecisionView.model_validate(row)

    async def _change(session: Any, row: dict[str, Any], change: Any, by: str, reason: str | None) -> None:
        # Who and why stay on the decision, the audit of who granted and who took back what.
        values = {
            "voucher_status": change,
            "voucher_changed_at": datetime.now(UTC),
            "voucher_changed_by": by,
            "voucher_reason": reason,
        }
        row |= values
        await store.update_decision(session, row["id"], **values)
        await recorder.publish_voucher(session, row, change, by, reason)

    return router


def policy_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["policy"])
    book, _ = components(runtime)

    @router.get("/policy", summary="The active compensation policy")
    async def read_policy(_: Annotated[Principal, Depends(require_scope("read"))]) -> Policy:
        async with runtime.db.transaction() as session:
            return await book.current(session)

    @router.get("/policy/versions", summary="Every policy version ever loaded, newest first")
    async def list_versions(_: Annotated[Principal, Depends(require_scope("read"))]) -> list[PolicyVersion]:
        async with runtime.db.transaction() as session:
            await book.current(session)
            return [PolicyVersion.model_validate(v) for v in await policy_store.versions(session)]

    @router.put(
        "/policy",
        summary="Replace the policy with a new version (validated; old versions are kept)",
        description=(
            "The policy is the platform's, for every client: only a platform operator replaces it. "
            "It is validated whole, including every offer description's placeholders."
        ),
        responses={
            403: problem_response(
                "Only a platform operator replaces the policy.",
                Forbidden,
                "This operation spans every client: only a platform operator may do it.",
            ),
            409: problem_response(
                "This version exists with other content: give the new policy a new version.",
                Conflict,
                "Policy version 2026.12-default-1 exists with other content.",
            ),
            422: problem_response(
                "The policy is not valid; the errors name each field.",
                RequestValidationFailed,
                "1 field(s) are not valid.",
                errors=VALIDATION_EXAMPLE,
            ),
        },
    )
    async def replace_policy(
        body: Policy, principal: Annotated[Principal, Depends(platform_operator)]
    ) -> Policy:
        async with runtime.db.transaction() as session:
            await book.current(session)
            if not await book.replace(session, body, principal.actor_id):
                raise Conflict(f"Policy version {body.version} exists with other content.")
        return body

    return router


def report_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["reports"])

    @router.get("/reports/spend", summary="Spend by category, rule, agent or month, and the frontline share")
    async def spend(
        principal: Annotated[Principal, Depends(require_scope("read"))],
        group_by: Literal["category", "rule", "agent", "month"] = "category",
        since: QueryTime | None = None,
        until: QueryTime | None = None,
    ) -> SpendReport:
        async with runtime.db.transaction() as session:
            lines = await reports.spend(session, principal.client, group_by, since, until)
            decided, frontline = await reports.frontline(session, principal.client, since, until)
        share = (Decimal(frontline) / decided).quantize(Decimal("0.0001")) if decided else None
        return SpendReport(
            group_by=group_by,
            since=since,
            until=until,
            lines=lines,
            decided=decided,
            settled_within_frontline=frontline,
            frontline_share=share,
        )

    return router
