"""Helpers for follow-up's tests and benchmark: a clock the test moves, events as other services
would publish them, and delivery of an event to follow-up's handlers without a broker."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select

from complaints_common.consumer import apply_once
from complaints_common.events import contracts as c
from complaints_common.events.envelope import (
    COMPENSATION_DECISION_RECORDED_V1,
    COMPENSATION_GRANTED_V1,
    COMPLAINT_CREATED_V1,
    COMPLAINT_DEADLINES_CHANGED_V1,
    COMPLAINT_STATUS_CHANGED_V1,
    Event,
)
from complaints_common.runtime import Runtime, run_migrations
from complaints_followup.dependencies import FollowupDependencies
from complaints_followup.events.handlers import subscriptions
from complaints_followup.main import SERVICE
from complaints_followup.settings import FollowupSettings
from complaints_followup.store.tables import outbox


class ManualClock:
    """A clock that stands still until moved; `tick` advances it on every reading."""

    def __init__(self, now: datetime, tick: timedelta = timedelta(0)) -> None:
        self.now = now
        self.tick = tick

    def __call__(self) -> datetime:
        now = self.now
        self.now += self.tick
        return now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


async def migrated_runtime(settings: FollowupSettings) -> Runtime:
    """Follow-up's database and outbox, migrated, with no broker (enough to schedule and fire)."""
    await asyncio.to_thread(run_migrations, SERVICE, settings)
    return SERVICE.runtime(settings)


async def deliver(runtime: Runtime, event: Event[Any]) -> bool:
    """Hand an event to follow-up's handler as the consumer would: inbox and effects in one
    transaction. False for a redelivery."""
    handlers = subscriptions(FollowupDependencies.build(runtime))
    handler = {s.contract.ce_type: s.handler for s in handlers}[event.contract.ce_type]
    topic = event.contract.topic.name
    return await apply_once(runtime.db, runtime.inbox, SERVICE.name, topic, event, handler)


SOURCE = "/tests"
CLIENT = "crm-test"  # the tenant of the test key (complaints_devstack.service_testing)


async def settled_complaint(
    runtime: Runtime,
    at: datetime,
    customer: str | None = None,
    *,
    kind: c.OfferKind = "coupon",
    category: str = "billing",
    client: str = CLIENT,
) -> UUID:
    """A new complaint filed and granted compensation at `at`, as both events reach follow-up: its
    satisfaction check is scheduled. The complaint's id; the customer is its own unless named."""
    complaint_id = uuid4()
    customer = customer or f"cust-{complaint_id.hex[:8]}"
    await deliver(runtime, complaint_created(complaint_id, customer, at, category=category, client=client))
    await deliver(runtime, compensation_granted(complaint_id, customer, at, kind=kind, client=client))
    return complaint_id


async def published(runtime: Runtime, ce_type: str) -> list[dict[str, Any]]:
    """The data of the `ce_type` events written to the outbox, in the order the relay publishes them."""
    async with runtime.db.transaction() as session:
        rows = await session.execute(
            select(outbox.c.payload).where(outbox.c.type == ce_type).order_by(outbox.c.seq)
        )
        return [row.payload for row in rows]


def complaint_created(
    complaint_id: UUID,
    customer_id: str,
    filed_at: datetime,
    *,
    deadlines: list[c.Deadline] | None = None,
    category: str = "billing",
    agent_id: str | None = "agent-1",
    client: str = CLIENT,
) -> Event[c.ComplaintCreatedV1]:
    data = c.ComplaintCreatedV1(
        complaint_id=complaint_id,
        reference="C-" + complaint_id.hex[:8],
        client_id=client,
        customer=c.CustomerContact(customer_id=customer_id, email="someone@example.com"),
        channel="phone",
        category=category,
        severity="medium",
        filed_at=filed_at,
        agent_id=agent_id,
        deadlines=deadlines or [],
    )
    return Event(COMPLAINT_CREATED_V1, data, SOURCE)


def compensation_granted(
    complaint_id: UUID,
    customer_id: str,
    granted_at: datetime,
    kind: c.OfferKind = "coupon",
    client: str = CLIENT,
) -> Event[c.CompensationGrantedV1]:
    money = c.Money(amount=Decimal("10.00"), currency="EUR")
    data = c.CompensationGrantedV1(
        complaint_id=complaint_id,
        client_id=client,
        decision_id=uuid4(),
        customer_id=customer_id,
        offer=c.Offer(kind=kind, description="A coupon", value=money, cost=money),
        rule_id="rule-1",
        policy_version="1",
        granted_by="auto",
        granted_at=granted_at,
    )
    return Event(COMPENSATION_GRANTED_V1, data, SOURCE)


def decision_recorded(
    complaint_id: UUID, customer_id: str, status: c.DecisionStatus, decided_at: datetime
) -> Event[c.CompensationDecisionRecordedV1]:
    data = c.CompensationDecisionRecordedV1(
        complaint_id=complaint_id,
        client_id=CLIENT,
        decision_id=uuid4(),
        customer_id=customer_id,
        status=status,
        rule_id="rule-1",
        policy_version="1",
        decided_by="supervisor-1",
        decided_at=decided_at,
    )
    return Event(COMPENSATION_DECISION_RECORDED_V1, data, SOURCE)


def status_changed(
    complaint_id: UUID,
    customer_id: str,
    from_status: c.ComplaintStatus,
    to_status: c.ComplaintStatus,
    changed_at: datetime,
    deadlines: list[c.Deadline] | None = None,
) -> Event[c.ComplaintStatusChangedV1]:
    data = c.ComplaintStatusChangedV1(
        complaint_id=complaint_id,
        client_id=CLIENT,
        customer_id=customer_id,
        from_status=from_status,
        to_status=to_status,
        actor="agent-1",
        changed_at=changed_at,
        deadlines=deadlines or [],
    )
    return Event(COMPLAINT_STATUS_CHANGED_V1, data, SOURCE)


def deadlines_changed(
    complaint_id: UUID, deadlines: list[c.Deadline], changed_at: datetime
) -> Event[c.ComplaintDeadlinesChangedV1]:
    data = c.ComplaintDeadlinesChangedV1(
        complaint_id=complaint_id, client_id=CLIENT, deadlines=deadlines, changed_at=changed_at
    )
    return Event(COMPLAINT_DEADLINES_CHANGED_V1, data, SOURCE)
