"""Request and response bodies of compensation's REST API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from complaints_common.events.contracts import Offer, OfferKind
from complaints_common.validation import MoneyIn, NonBlank, RequestModel


class DecisionView(BaseModel):
    """A compensation decision: what was offered, its status, and who decided under which rule."""

    id: UUID
    complaint_id: UUID
    customer_id: str
    status: str
    offer: Offer
    value_amount: Decimal
    cost_amount: Decimal
    currency: str
    voucher_code: str | None
    voucher_expires_at: datetime | None
    voucher_status: str | None
    voucher_changed_by: str | None = Field(default=None, description="Who redeemed or clawed it back.")
    voucher_reason: str | None = Field(default=None, description="Why, in their words.")
    rule_id: str = Field(description="The rule that decided: the offer rule, or the abuse/authority rule.")
    offer_rule_id: str | None = Field(description="The policy rule that made the offer.")
    policy_version: str
    authority: str = Field(
        description="The authority the grant needs or had: frontline, supervisor, manager."
    )
    proposed_by: str
    granted_by: str | None
    reason: str | None
    signoffs: list[dict[str, Any]]
    within_frontline: bool
    decided_at: datetime
    settled_at: datetime | None


class DecisionPage(BaseModel):
    items: list[DecisionView]
    limit: int
    offset: int


class SignOffRequest(BaseModel):
    """Why. Who signs, and with which authority, is the person of the bearer token and their role
    (a supervisor or manager); an API key cannot sign."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "ok"}]})

    reason: str | None = Field(default=None, max_length=200)


class RejectRequest(SignOffRequest):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "too generous"}]})

    reason: str = Field(min_length=3, max_length=200)


class ProposedOffer(RequestModel):
    """What the agent offers, valued at retail. Its cost to us is worked out from the policy."""

    kind: OfferKind
    description: NonBlank = Field(min_length=1, max_length=500)
    value: MoneyIn
    percentage: Decimal | None = Field(default=None, ge=0, le=100)


class ProposalRequest(BaseModel):
    """An agent's own compensation proposal for a complaint, checked against the limit of the
    caller's authenticated role (a person's token), or the agent's limit (an API key)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "offer": {
                        "kind": "fixed_credit",
                        "description": "A 60 EUR credit for the outage.",
                        "value": {"amount": "60.00", "currency": "EUR"},
                    },
                }
            ]
        },
    )

    offer: ProposedOffer
    reason: str | None = Field(default=None, max_length=200)


class OptionView(BaseModel):
    option_id: str = Field(description="The policy rule that makes this offer.")
    offer: Offer
    within_your_authority: bool = Field(
        description="Whether the caller's verified role may grant it on the spot (an API key: the agent's)."
    )


class OptionSetView(BaseModel):
    """The options the front line gives the customer, and what became of them."""

    complaint_id: UUID
    status: Literal["open", "chosen", "proposed", "lapsed"] = Field(
        description="open: waiting for the customer's choice; chosen; proposed (the agent's own offer "
        "instead); lapsed (no choice by `choose_by`: the first option was granted automatically)."
    )
    options: list[OptionView]
    policy_version: str
    offered_at: datetime
    choose_by: datetime
    chosen_option: str | None
    closed_by: str | None = Field(description="Who recorded the choice or proposal ('auto' when lapsed).")
    closed_at: datetime | None
    decision_id: UUID | None


class ChoiceRequest(RequestModel):
    """Which option the customer chose. Who records it, and with which authority, is the caller."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"option_id": "retail.defective", "reason": "customer chose the fix"}]
        },
    )

    option_id: NonBlank = Field(min_length=1, max_length=100)
    reason: NonBlank | None = Field(default=None, max_length=200)


class VoucherAction(BaseModel):
    """Why (who acts is the authenticated caller)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "used at till 3"}]})

    reason: str | None = Field(default=None, max_length=200)


class ClawbackRequest(BaseModel):
    """Why (who acts is the authenticated caller)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "duplicate claim"}]})

    reason: NonBlank = Field(min_length=3, max_length=200)


class PolicyVersion(BaseModel):
    version: str
    active: bool
    loaded_by: str
    loaded_at: datetime


class SpendLine(BaseModel):
    key: str | None
    currency: str
    decisions: int
    value: Decimal
    cost: Decimal


class SpendReport(BaseModel):
    group_by: Literal["category", "rule", "agent", "month"]
    since: datetime | None
    until: datetime | None
    lines: list[SpendLine]
    decided: int = Field(description="Decisions with compensation of any value in the period.")
    settled_within_frontline: int
    frontline_share: Decimal | None = Field(
        description="Share of decisions granted within frontline authority."
    )
