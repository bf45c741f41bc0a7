"""What a CRM can be pushed, and whether a webhook target may be called: pure rules, no I/O.

Every push is a Standard Webhooks message: `{"type", "timestamp", "data"}`, signed, with the
message id as `webhook-id` (the same on every retry). The payload of each type is a model here, so
the OpenAPI document's `webhooks` section is generated from the same code that writes it. Payloads
carry ids, states and reason codes, never the customer's contact details or free text: the CRM
has those already.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from complaints_common.events.contracts import (
    CompensationGrantedV1,
    ComplaintStatus,
    DecisionStatus,
    FollowupOutcomeKind,
    Money,
    NotificationStatus,
    OfferKind,
)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class PushType(StrEnum):
    """The push catalogue: what a subscription may choose (`event_types`)."""

    APPROVAL_WAITING = "compensation.approval_waiting"
    GRANTED = "compensation.granted"
    DECLINED = "compensation.declined"
    STATUS_CHANGED = "complaint.status_changed"
    DEADLINE_WARNED = "complaint.deadline_warned"
    DEADLINE_BREACHED = "complaint.deadline_breached"
    FOLLOWUP_OUTCOME = "followup.outcome"
    DELIVERY_FAILED = "notification.delivery_failed"
    CALLBACK_TASK = "complaint.callback_task"


# Sent only when asked for (POST /v1/webhooks/{id}/test), whatever the subscription chose.
TEST_PUSH = "webhook.test"

DECISION_PUSHES: dict[DecisionStatus, PushType] = {
    "pending_approval": PushType.APPROVAL_WAITING,
    # Held by an abuse rule: a person must decide, as for an approval.
    "held": PushType.APPROVAL_WAITING,
    "granted": PushType.GRANTED,
    "refused": PushType.DECLINED,
    "rejected": PushType.DECLINED,
}
DEADLINE_PUSHES = {
    "deadline_warning": PushType.DEADLINE_WARNED,
    "deadline_breach": PushType.DEADLINE_BREACHED,
}

EXAMPLE_COMPLAINT = "0b7f6c1e-3c1d-4a8e-9a55-5f2f7d0c9e11"
EXAMPLE_AT = "2026-12-01T14:05:00Z"


class PushData(BaseModel):
    model_config = ConfigDict(frozen=True)

    complaint_id: UUID = Field(examples=[EXAMPLE_COMPLAINT])


class PushedOffer(BaseModel):
    """The offer as the customer values it (the cost to the company stays inside)."""

    kind: OfferKind
    description: str = Field(max_length=500)
    value: Money


class DecisionData(PushData):
    decision_id: UUID
    customer_id: str
    status: DecisionStatus = Field(
        description="pending_approval or held (approval waiting), granted, refused or rejected (declined)."
    )
    offer: PushedOffer | None = None
    rule_id: str = Field(description="The policy rule that decided.")
    reason: str | None = Field(default=None, description="A reason code, never free text.")
    decided_by: str = Field(description="'auto', or the person who decided.")
    decided_at: datetime


class StatusChangedData(PushData):
    customer_id: str
    from_status: ComplaintStatus
    to_status: ComplaintStatus
    reopened: bool
    escalation_level: int
    reason: str | None = None
    actor: str
    changed_at: datetime


class DeadlineData(PushData):
    followup_id: UUID
    customer_id: str
    deadline_name: str | None = Field(default=None, examples=["final_response"])
    due_at: datetime = Field(description="When the deadline falls (warned) or fell (breached).")
    fired_at: datetime


class FollowupOutcomeData(PushData):
    followup_id: UUID
    customer_id: str
    outcome: FollowupOutcomeKind
    attempt: int
    csat: int | None = None
    nps: int | None = None
    recorded_by: str
    recorded_at: datetime


class DeliveryFailedData(PushData):
    message_id: UUID = Field(description="The message; GET /v1/deliveries/{message_id} has its log.")
    kind: str = Field(examples=["acknowledgement"])
    channel: str = Field(examples=["email"])
    status: NotificationStatus = Field(
        description="failed (will not succeed) or dead_lettered (retries spent)."
    )
    attempts: int
    error: str | None = Field(default=None, description="A status code or error class, never an address.")
    at: datetime


class CallbackTaskData(PushData):
    message_id: UUID
    reference: str = Field(description="The reference the customer quotes.")
    customer_id: str
    followup_id: UUID | None = None
    followup_kind: str | None = None
    deadline_name: str | None = None
    due_at: str | None = None
    attempt: int
    summary: str = Field(description="The task in a sentence, for the agent's queue.")


class TestData(BaseModel):
    subscription_id: UUID
    message: str


DataT = TypeVar("DataT", bound=BaseModel)


class Push(BaseModel, Generic[DataT]):
    """The body of every push (Standard Webhooks' `type`/`timestamp`/`data`)."""

    type: str
    timestamp: datetime
    data: DataT


def _example(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": type_, "timestamp": EXAMPLE_AT, "data": data}


DECISION_EXAMPLE = {
    "complaint_id": EXAMPLE_COMPLAINT,
    "decision_id": "7d1c0a4e-2b7a-4f7e-8c1d-9e0f1a2b3c4d",
    "customer_id": "CUST-1042",
    "offer": {
        "kind": "fixed_credit",
        "description": "Credit on your next bill",
        "value": {"amount": "25.00", "currency": "EUR"},
    },
    "rule_id": "any.billing-credit",
    "reason": None,
    "decided_by": "auto",
    "decided_at": EXAMPLE_AT,
}
FOLLOWUP_ID = "c3a1f9de-6e2b-4d4a-8f3e-1b2c3d4e5f60"
MESSAGE_ID = "3f1c2b8e-8d4a-4c55-9a7e-0d6f4f1f2a10"
DEADLINE_EXAMPLE = {
    "complaint_id": EXAMPLE_COMPLAINT,
    "followup_id": FOLLOWUP_ID,
    "customer_id": "CUST-1042",
    "deadline_name": "final_response",
    "due_at": "2027-01-26T17:00:00Z",
    "fired_at": EXAMPLE_AT,
}


class Documented:
    """One push type as the OpenAPI `webhooks` section shows it: name, what it means, an example."""

    def __init__(self, type_: str, summary: str, data: type[BaseModel], example: dict[str, Any]) -> None:
        self.type, self.summary, self.data, self.example = type_, summary, data, _example(type_, example)


CATALOGUE: tuple[Documented, ...] = (
    Documented(
        PushType.APPROVAL_WAITING,
        "A compensation decision waits for a person (above the agent's limit, or held by an abuse rule).",
        DecisionData,
        DECISION_EXAMPLE | {"status": "pending_approval", "rule_id": "approval.above-limit"},
    ),
    Documented(
        PushType.GRANTED,
        "Compensation was granted, automatically or on approval.",
        DecisionData,
        DECISION_EXAMPLE | {"status": "granted"},
    ),
    Documented(
        PushType.DECLINED,
        "Compensation was refused by a rule or rejected by an approver.",
        DecisionData,
        DECISION_EXAMPLE | {"status": "rejected", "reason": "not_eligible", "decided_by": "supervisor-7"},
    ),
    Documented(
        PushType.STATUS_CHANGED,
        "The complaint moved in its lifecycle (acknowledged, in progress, resolved, closed, reopened, "
        "escalated).",
        StatusChangedData,
        {
            "complaint_id": EXAMPLE_COMPLAINT,
            "customer_id": "CUST-1042",
            "from_status": "in_progress",
            "to_status": "resolved",
            "reopened": False,
            "escalation_level": 0,
            "reason": None,
            "actor": "agent-17",
            "changed_at": EXAMPLE_AT,
        },
    ),
    Documented(
        PushType.DEADLINE_WARNED,
        "A deadline of the complaint falls soon.",
        DeadlineData,
        DEADLINE_EXAMPLE,
    ),
    Documented(
        PushType.DEADLINE_BREACHED,
        "A deadline of the complaint was missed.",
        DeadlineData,
        DEADLINE_EXAMPLE | {"due_at": "2026-12-01T14:00:00Z"},
    ),
    Documented(
        PushType.FOLLOWUP_OUTCOME,
        "An agent recorded the satisfaction call-back (a dissatisfied customer reopens the complaint).",
        FollowupOutcomeData,
        {
            "complaint_id": EXAMPLE_COMPLAINT,
            "followup_id": FOLLOWUP_ID,
            "customer_id": "CUST-1042",
            "outcome": "satisfied",
            "attempt": 1,
            "csat": 5,
            "nps": 9,
            "recorded_by": "agent-17",
            "recorded_at": EXAMPLE_AT,
        },
    ),
    Documented(
        PushType.DELIVERY_FAILED,
        "A message to the customer (or a call-back task) could not be delivered: failed or retries spent.",
        DeliveryFailedData,
        {
            "complaint_id": EXAMPLE_COMPLAINT,
            "message_id": MESSAGE_ID,
            "kind": "acknowledgement",
            "channel": "email",
            "status": "dead_lettered",
            "attempts": 6,
            "error": "smtp 451",
            "at": EXAMPLE_AT,
        },
    ),
    Documented(
        PushType.CALLBACK_TASK,
        "A follow-up for the CRM's agents to act on (call the customer back, a deadline to chase).",
        CallbackTaskData,
        {
            "complaint_id": EXAMPLE_COMPLAINT,
            "message_id": MESSAGE_ID,
            "reference": "CMP-7Q2K-9D",
            "customer_id": "CUST-1042",
            "followup_id": FOLLOWUP_ID,
            "followup_kind": "deadline_warning",
            "deadline_name": "final_response",
            "due_at": "2027-01-26T17:00:00+00:00",
            "attempt": 1,
            "summary": "Final response for CMP-7Q2K-9D due 2027-01-26: call the customer.",
        },
    ),
    Documented(
        TEST_PUSH,
        "Sent on request (POST /v1/webhooks/{subscription_id}/test) to prove the endpoint and its secret.",
        TestData,
        {"subscription_id": "5e0f8a42-9b1c-4d3e-a2f1-7c6b5a4d3e2f", "message": "A test delivery."},
    ),
)


def push_body(type_: str, data: BaseModel, at: datetime | None = None) -> str:
    # serialize_as_any: the data's own fields, not those of the BaseModel it is declared as.
    push = Push[BaseModel](type=type_, timestamp=at or datetime.now(UTC), data=data)
    return push.model_dump_json(serialize_as_any=True)


def decision_push(data: dict[str, Any]) -> tuple[PushType, DecisionData] | None:
    """compensation.decision_recorded as the push its status calls for."""
    push = DECISION_PUSHES.get(data["status"])
    if push is None:
        return None
    return push, DecisionData.model_validate(data)


def granted_push(data: CompensationGrantedV1) -> tuple[PushType, DecisionData]:
    """compensation.granted, a grant's only event, as the decision push a decision record with
    status `granted` made: who decided and when are who granted it and when."""
    offer = PushedOffer(kind=data.offer.kind, description=data.offer.description, value=data.offer.value)
    decision = DecisionData(
        complaint_id=data.complaint_id,
        decision_id=data.decision_id,
        customer_id=data.customer_id,
        status="granted",
        offer=offer,
        rule_id=data.rule_id,
        reason=data.reason,
        decided_by=data.granted_by,
        decided_at=data.granted_at,
    )
    return PushType.GRANTED, decision


def decision_push_key(event_id: str, decision: DecisionData) -> str:
    """What a decision push is pushed once per: a grant once per decision, whichever event announces
    it (`compensation.granted`, or a decision record with status `granted` published before grants
    were announced alone: an upgrade may deliver both); any other decision once per event."""
    return f"grant:{decision.decision_id}" if decision.status == "granted" else event_id


def deadline_push(data: dict[str, Any]) -> tuple[PushType, DeadlineData] | None:
    """followup.due for a deadline warning or breach (the call-back task is pushed besides)."""
    push = DEADLINE_PUSHES.get(data["kind"])
    return (push, DeadlineData.model_validate(data)) if push else None


# ---- Where a webhook may point ---------------------------------------------------------------


class TargetRefused(ValueError):
    """The target URL may not be called; the message says why, and is safe to show its owner."""


def refused_address(addresses: Sequence[IpAddress], allowed: Sequence[IpNetwork]) -> IpAddress | None:
    """The first address that is not public (private, loopback, link-local, shared, reserved,
    multicast, unspecified...) and not in a network the operator allowed; None if all may be called.
    An IPv4-mapped IPv6 address is judged (and returned) as the IPv4 address it carries."""
    for address in addresses:
        judged: IpAddress = address
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            judged = address.ipv4_mapped
        if any(judged in network for network in allowed):
            continue
        if not judged.is_global or judged.is_multicast:
            return judged
    return None


def address_class(address: IpAddress) -> str:
    """What kind of non-public address it is, for the refusal's detail (the address itself is not
    echoed: the caller knows what their host resolves to)."""
    for name in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{name}"):
            return name.replace("_", "-")
    return "non-public"


def check_scheme(scheme: str, allow_http: bool) -> None:
    if scheme == "https" or (scheme == "http" and allow_http):
        return
    raise TargetRefused(
        "The target must be an https URL." if not allow_http else "The target must be http(s)."
    )
