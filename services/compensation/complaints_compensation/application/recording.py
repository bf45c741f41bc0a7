"""Recording a decision and publishing what it causes, in the caller's transaction (the outbox).

Used by the consumer (automatic decisions) and by the REST API (proposals, approvals, vouchers), so a
decision is written and announced one way only, by one event: a grant (at once or on approval)
publishes `compensation.granted` alone, with everything its decision record would say (what billing,
the customer's notification and the CRM need); every other decision taken or changed (waiting,
held, refused, rejected, passed on) publishes `compensation.decision_recorded`, naming its rule.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import get_args
from uuid import UUID, uuid4

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.db import after_commit
from complaints_common.events.contracts import (
    CompensationDecisionRecordedV1,
    CompensationGrantedV1,
    CompensationOptionsOfferedV1,
    ComplaintCreatedV1,
    OfferOption,
    VoucherChange,
    VoucherChangedV1,
)
from complaints_common.events.envelope import (
    COMPENSATION_DECISION_RECORDED_V1,
    COMPENSATION_GRANTED_V1,
    COMPENSATION_OPTIONS_OFFERED_V1,
    VOUCHER_CHANGED_V1,
    Event,
)
from complaints_common.messaging import Outbox
from complaints_common.telemetry import current_trace_context
from complaints_compensation.domain.policy import (
    AUTHORITY_OF_ROLE,
    VOUCHER_KINDS,
    Authority,
    Decision,
    Option,
    Status,
    new_voucher_code,
)
from complaints_compensation.domain.rules import Policy, Role
from complaints_compensation.store import decisions as store
from complaints_compensation.store import options as option_store
from complaints_compensation.store.decisions import DecisionRecord
from complaints_compensation.store.options import OptionSetRecord

SOURCE = "/complaints/compensation"
log = logging.getLogger(__name__)

DECISIONS = Counter(
    "compensation_decisions_total", "Compensation decisions by status and authority.", ["status", "authority"]
)
# Money is counted per currency: each `currency` series is an amount in that currency, so sum or
# rate within one currency only (there is no conversion; docs/operations.md).
GRANTED_VALUE = Counter(
    "compensation_granted_value_total",
    "Retail value of the compensation granted, in the currency its label names; never sum across currencies.",
    ["currency"],
)
# Every (status, authority) series, looked up once: every decision counts itself.
DECIDED = {
    (status, authority): DECISIONS.labels(status, authority)
    for status in get_args(Status)
    for authority in get_args(Authority)
}
BUDGET_EXCEEDED = Gauge(
    "compensation_budget_exceeded",
    "1 while a client's granted cost this period is above the budget.",
    ["client", "currency"],
)


def _reason(decision: DecisionRecord) -> str | None:
    return (decision.reason or None) and decision.reason[:200]


def _recorded(
    decision: DecisionRecord, decided_by: str, at: datetime | None = None
) -> Event[CompensationDecisionRecordedV1]:
    """`compensation.decision_recorded`: a decision that does not grant, taken or changed."""
    assert decision.status != "granted", "a grant is announced by compensation.granted alone"
    recorded = CompensationDecisionRecordedV1(
        complaint_id=decision.complaint_id,
        client_id=decision.client_id,
        decision_id=decision.id,
        customer_id=decision.customer_id,
        status=decision.status,
        offer=decision.offer,
        rule_id=decision.rule_id,
        policy_version=decision.policy_version,
        reason=_reason(decision),
        decided_by=decided_by,
        decided_at=at or datetime.now(UTC),
    )
    return Event(COMPENSATION_DECISION_RECORDED_V1, recorded, SOURCE)


class Recorder:
    def __init__(self, outbox: Outbox, voucher_validity: timedelta) -> None:
        self.outbox = outbox
        self.voucher_validity = voucher_validity

    async def record_new(
        self,
        session: AsyncConnection,
        complaint: ComplaintCreatedV1,
        decision: Decision,
        proposed_by: str,
        policy: Policy,
    ) -> UUID | None:
        """Store a new decision and publish it; None when the complaint's automatic one exists."""
        now = datetime.now(UTC)
        offer = decision.offer
        record = DecisionRecord(
            id=uuid4(),
            client_id=complaint.client_id,
            complaint_id=complaint.complaint_id,
            customer_id=complaint.customer.customer_id,
            status=decision.status,
            offer=offer,
            value_amount=offer.value.amount,
            cost_amount=offer.cost.amount,
            currency=offer.value.currency,
            rule_id=decision.rule_id,
            offer_rule_id=decision.offer_rule_id,
            policy_version=decision.policy_version,
            authority=decision.authority,
            proposed_by=proposed_by,
            reason=decision.reason,
            within_frontline=decision.within_frontline_authority,
            category=complaint.category,
            channel=complaint.channel,
            order_ref=decision.order_ref,
            decided_at=now,
            trace_context=current_trace_context(),
        )
        granted = decision.status == "granted"
        if granted:
            record = self._granted(record, proposed_by, now)
        event = self._grant_event(record) if granted else _recorded(record, decided_by=proposed_by)
        # The decision, its event and a grant's cost in the client's spend: one statement.
        recorded = await store.record_decision(session, record, [self.outbox.row(event)])
        if recorded is None:
            return None
        after_commit(session, DECIDED[decision.status, decision.authority].inc)
        if granted:
            self._count_grant(session, record)
        if recorded.spent is not None:
            self._check_budget(session, policy, record, recorded.spent)
        return record.id

    async def offer_options(
        self, session: AsyncConnection, complaint: ComplaintCreatedV1, options: list[Option], policy: Policy
    ) -> bool:
        """Store the front line's options for the complaint and publish them; False when they exist."""
        now = datetime.now(UTC)
        offered = OptionSetRecord(
            complaint_id=complaint.complaint_id,
            client_id=complaint.client_id,
            customer_id=complaint.customer.customer_id,
            options=tuple(OfferOption(option_id=o.option_id, offer=o.offer) for o in options),
            policy_version=policy.version,
            offered_at=now,
            choose_by=now + timedelta(minutes=policy.frontline_options.choose_within_minutes),
            trace_context=current_trace_context(),
        )
        if not await option_store.insert_option_set(session, offered):
            return False
        event = CompensationOptionsOfferedV1(
            complaint_id=complaint.complaint_id,
            client_id=complaint.client_id,
            customer_id=complaint.customer.customer_id,
            options=list(offered.options),
            policy_version=policy.version,
            choose_by=offered.choose_by,
            offered_at=now,
        )
        await self.outbox.add(session, Event(COMPENSATION_OPTIONS_OFFERED_V1, event, SOURCE))
        return True

    def _granted(self, decision: DecisionRecord, granted_by: str, now: datetime) -> DecisionRecord:
        offer = decision.offer
        voucher = offer.kind in VOUCHER_KINDS and offer.value.amount > 0
        return replace(
            decision,
            granted_by=granted_by,
            settled_at=now,
            voucher_code=new_voucher_code() if voucher else None,
            voucher_expires_at=now + self.voucher_validity if voucher else None,
            voucher_status="active" if voucher else None,
        )

    async def grant_on_approval(
        self, session: AsyncConnection, decision: DecisionRecord, approver: str, role: Role, policy: Policy
    ) -> DecisionRecord:
        now = datetime.now(UTC)
        granted = replace(
            self._granted(decision, approver, now), status="granted", authority=AUTHORITY_OF_ROLE[role]
        )
        await store.save_grant(session, granted)
        after_commit(session, DECIDED["granted", granted.authority].inc)
        await self._publish_grant(session, granted)
        self._check_budget(session, policy, granted, await store.raise_spend(session, granted))
        return granted

    async def _publish_grant(self, session: AsyncConnection, decision: DecisionRecord) -> None:
        self._count_grant(session, decision)
        await self.outbox.add(session, self._grant_event(decision))

    @staticmethod
    def _count_grant(session: AsyncConnection, decision: DecisionRecord) -> None:
        value = decision.offer.value
        # A metric, not money: float is fine.
        after_commit(session, lambda: GRANTED_VALUE.labels(value.currency).inc(float(value.amount)))

    @staticmethod
    def _grant_event(decision: DecisionRecord) -> Event[CompensationGrantedV1]:
        """A grant's one event, `compensation.granted`: the decision's reason, who decided
        (`granted_by`) and when (`granted_at`) with it, as its decision record would say them."""
        assert decision.granted_by is not None and decision.settled_at is not None  # a grant has both
        grant = CompensationGrantedV1(
            complaint_id=decision.complaint_id,
            client_id=decision.client_id,
            decision_id=decision.id,
            customer_id=decision.customer_id,
            offer=decision.offer,
            voucher_code=decision.voucher_code,
            voucher_expires_at=decision.voucher_expires_at,
            rule_id=decision.rule_id,
            policy_version=decision.policy_version,
            authority=decision.authority,
            reason=_reason(decision),
            granted_by=decision.granted_by,
            granted_at=decision.settled_at,
        )
        return Event(COMPENSATION_GRANTED_V1, grant, SOURCE)

    async def publish_recorded(
        self, session: AsyncConnection, decision: DecisionRecord, decided_by: str, at: datetime | None = None
    ) -> None:
        await self.outbox.add(session, _recorded(decision, decided_by, at))

    async def publish_voucher(
        self,
        session: AsyncConnection,
        decision: DecisionRecord,
        change: VoucherChange,
        by: str,
        reason: str | None,
    ) -> None:
        changed = VoucherChangedV1(
            complaint_id=decision.complaint_id,
            client_id=decision.client_id,
            decision_id=decision.id,
            change=change,
            changed_by=by,
            changed_at=datetime.now(UTC),
            reason=reason,
        )
        await self.outbox.add(session, Event(VOUCHER_CHANGED_V1, changed, SOURCE))

    @staticmethod
    def _check_budget(
        session: AsyncConnection, policy: Policy, granted: DecisionRecord, spent: Decimal
    ) -> None:
        """Warn (log and metric) when a grant takes its client's granted cost this month past the
        policy's budget in its currency (the budget applies to each client's own spend)."""
        client_id, currency = granted.client_id, granted.currency
        budget = policy.budget.amounts.get(currency)
        if budget is None:
            return
        over = spent > budget
        extra = {
            "client": client_id,
            "currency": currency,
            "budget": str(budget),
            "spent": str(spent),
            "period": "month",
        }

        def report() -> None:
            BUDGET_EXCEEDED.labels(client_id, currency).set(1 if over else 0)
            if over:
                log.warning("compensation budget exceeded", extra=extra)

        after_commit(session, report)
