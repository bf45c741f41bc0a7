"""The published, versioned data of every event. A change here must stay backward compatible with
the JSON Schemas committed under docs/events/schemas (a test enforces it): add optional fields only;
anything else is a new version with a new type.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]
LanguageTag = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", examples=["en"])]
Channel = Literal["phone", "email", "chat", "social", "in_person", "web", "post"]
ContactChannel = Literal["email", "sms", "phone", "post", "none"]
Severity = Literal["low", "medium", "high", "critical"]
OfferKind = Literal[
    "percentage_discount",
    "fixed_credit",
    "free_service",
    "free_product",
    "coupon",
    "refund",
    "apology",
]
FollowupKind = Literal["satisfaction_check", "deadline_warning", "deadline_breach", "manual"]


class EventData(BaseModel):
    """Base of all event data: every event is about one complaint, whose id is also the Kafka key."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    complaint_id: UUID


class Money(BaseModel):
    """An amount with its currency; decimals travel as strings so no float ever rounds them."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2, examples=["25.00"])
    currency: CurrencyCode


class CustomerContact(BaseModel):
    """Who to tell and how. Only the fields a consumer needs to reach the customer."""

    model_config = ConfigDict(frozen=True)

    customer_id: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    preferred_channel: ContactChannel = "email"
    language: LanguageTag = "en"
    tier: str | None = Field(default=None, max_length=40)


class ComplaintCreatedV1(EventData):
    """A CRM filed a complaint and intake accepted it."""

    reference: str = Field(max_length=40, description="Short reference the customer can quote.")
    client_id: str = Field(max_length=100, description="The CRM client that filed it.")
    crm_reference: str | None = Field(default=None, max_length=100)
    customer: CustomerContact
    channel: Channel
    category: str = Field(max_length=100)
    product: str | None = Field(default=None, max_length=200)
    severity: Severity
    amount_at_stake: Money | None = None
    occurred_at: datetime | None = None
    filed_at: datetime
    agent_id: str | None = Field(default=None, max_length=100)
    confidential: bool = False
    tags: list[str] = Field(default_factory=list, max_length=20)


class Offer(BaseModel):
    """What the customer gets: valued at retail for the customer, and at cost for us."""

    model_config = ConfigDict(frozen=True)

    kind: OfferKind
    description: str = Field(max_length=500)
    value: Money
    cost: Money
    percentage: Decimal | None = Field(default=None, ge=0, le=100)


class CompensationGrantedV1(EventData):
    """Compensation was granted, automatically within authority or on approval."""

    decision_id: UUID
    customer_id: str = Field(max_length=100)
    offer: Offer
    voucher_code: str | None = Field(default=None, max_length=64)
    voucher_expires_at: datetime | None = None
    rule_id: str = Field(max_length=100)
    policy_version: str = Field(max_length=40)
    authority: Literal["frontline", "supervisor", "manager"] = "frontline"
    granted_by: str = Field(max_length=100, description="'auto' or the approver's id.")
    granted_at: datetime


class FollowupDueV1(EventData):
    """A follow-up fell due: a satisfaction check to make, or a deadline about to be or already missed."""

    followup_id: UUID
    customer_id: str = Field(max_length=100)
    kind: FollowupKind
    due_at: datetime
    fired_at: datetime
    attempt: int = Field(default=1, ge=1)
    deadline_name: str | None = Field(default=None, max_length=60)
