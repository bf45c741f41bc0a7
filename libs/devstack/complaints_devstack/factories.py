"""Events as the other services would publish them, for tests and benchmarks: one factory per event
type, each with plausible defaults and every data field open to override by keyword.

    event = complaint_created(category="delivery", deadlines=[...])
    await publish(bootstrap, prefix, event)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from aiokafka import AIOKafkaProducer

from complaints_common.events import contracts as c
from complaints_common.events.envelope import (
    COMPENSATION_DECISION_RECORDED_V1,
    COMPENSATION_GRANTED_V1,
    COMPENSATION_OPTIONS_OFFERED_V1,
    COMPLAINT_CREATED_V1,
    COMPLAINT_DEADLINES_CHANGED_V1,
    COMPLAINT_STATUS_CHANGED_V1,
    FOLLOWUP_DUE_V1,
    Event,
    encode_event,
)

SOURCE = "/tests"
CLIENT = "crm-test"  # the tenant of the test key (complaints_devstack.service_testing)


def complaint_created(
    complaint_id: UUID | None = None,
    customer_id: str = "cust-1",
    filed_at: datetime | None = None,
    *,
    client: str = CLIENT,
    contact: Mapping[str, Any] | None = None,
    source: str = SOURCE,
    **fields: Any,
) -> Event[c.ComplaintCreatedV1]:
    """A complaint intake filed. `contact`: further customer fields (name, language, or `email`,
    which is someone@example.com unless given); `fields`: any other field of the data."""
    complaint_id = complaint_id or uuid4()
    data = c.ComplaintCreatedV1.model_validate(
        {
            "complaint_id": complaint_id,
            "reference": "C-" + complaint_id.hex[:8],
            "client_id": client,
            "customer": {"customer_id": customer_id, "email": "someone@example.com", **(contact or {})},
            "channel": "phone",
            "category": "billing",
            "severity": "medium",
            "agent_id": "agent-1",
            "filed_at": filed_at or datetime.now(UTC),
            **fields,
        }
    )
    return Event(COMPLAINT_CREATED_V1, data, source)


def compensation_granted(
    complaint_id: UUID | None = None,
    customer_id: str = "cust-1",
    granted_at: datetime | None = None,
    kind: c.OfferKind = "coupon",
    client: str = CLIENT,
    **fields: Any,
) -> Event[c.CompensationGrantedV1]:
    """Compensation granted an offer of `kind` worth 10 EUR."""
    money = c.Money(amount=Decimal("10.00"), currency="EUR")
    data = c.CompensationGrantedV1.model_validate(
        {
            "complaint_id": complaint_id or uuid4(),
            "client_id": client,
            "decision_id": uuid4(),
            "customer_id": customer_id,
            "offer": c.Offer(kind=kind, description="A coupon", value=money, cost=money),
            "rule_id": "rule-1",
            "policy_version": "1",
            "granted_by": "auto",
            "granted_at": granted_at or datetime.now(UTC),
            **fields,
        }
    )
    return Event(COMPENSATION_GRANTED_V1, data, SOURCE)


def options_offered(
    complaint_id: UUID,
    options: Sequence[tuple[str, c.Offer]],
    offered_at: datetime,
    customer_id: str = "cust-1",
    **fields: Any,
) -> Event[c.CompensationOptionsOfferedV1]:
    """The front line's options (option id, offer), to choose from within the hour."""
    data = c.CompensationOptionsOfferedV1.model_validate(
        {
            "complaint_id": complaint_id,
            "client_id": CLIENT,
            "customer_id": customer_id,
            "options": [c.OfferOption(option_id=option_id, offer=offer) for option_id, offer in options],
            "policy_version": "1",
            "choose_by": offered_at + timedelta(hours=1),
            "offered_at": offered_at,
            **fields,
        }
    )
    return Event(COMPENSATION_OPTIONS_OFFERED_V1, data, SOURCE)


def decision_recorded(
    complaint_id: UUID, customer_id: str, status: c.DecisionStatus, decided_at: datetime, **fields: Any
) -> Event[c.CompensationDecisionRecordedV1]:
    """A decision record (status `granted`: one from before grants were announced alone)."""
    data = c.CompensationDecisionRecordedV1.model_validate(
        {
            "complaint_id": complaint_id,
            "client_id": CLIENT,
            "decision_id": uuid4(),
            "customer_id": customer_id,
            "status": status,
            "rule_id": "rule-1",
            "policy_version": "1",
            "decided_by": "supervisor-1",
            "decided_at": decided_at,
            **fields,
        }
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


def followup_due(
    complaint_id: UUID | None = None, customer_id: str = "cust-1", **fields: Any
) -> Event[c.FollowupDueV1]:
    """A satisfaction check fell due now, unless `fields` say otherwise."""
    now = datetime.now(UTC)
    data = c.FollowupDueV1.model_validate(
        {
            "complaint_id": complaint_id or uuid4(),
            "client_id": CLIENT,
            "followup_id": uuid4(),
            "customer_id": customer_id,
            "kind": "satisfaction_check",
            "due_at": now,
            "fired_at": now,
            **fields,
        }
    )
    return Event(FOLLOWUP_DUE_V1, data, SOURCE)


async def publish(bootstrap: str, prefix: str, *events: Event[Any]) -> None:
    """Produce events to their (prefixed) topics as their publishing service's relay would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for event in events:
            record = encode_event(event)
            await producer.send_and_wait(
                prefix + event.contract.topic.name, value=record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()
