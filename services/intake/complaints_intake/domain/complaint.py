"""What a complaint is when a CRM files it: the fields, their limits, and the event it causes.

Pure rules, no I/O: testable without a database.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from complaints_common.events.contracts import (
    Channel,
    ComplaintCreatedV1,
    ContactChannel,
    CustomerContact,
    Deadline,
    LanguageTag,
    Severity,
)
from complaints_common.validation import Language, MoneyIn, NonBlank, PastTime, RequestModel
from complaints_intake.domain.repeats import CustomerFlag, RepeatLink

# The address each preferred channel needs (post and none need none here).
CHANNEL_ADDRESS = {"email": "email", "sms": "phone", "phone": "phone"}
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class Status(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Customer(BaseModel):
    """The customer as the CRM knows them (as stored and shown)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: ShortText = Field(description="The CRM's own customer id.", examples=["CUST-1042"])
    name: str | None = Field(default=None, min_length=1, max_length=200, examples=["Ana Lima"])
    email: str | None = Field(
        default=None,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        examples=["ana.lima@example.com"],
    )
    phone: str | None = Field(
        default=None, pattern=r"^\+?[0-9 ()-]{6,32}$", max_length=32, examples=["+44 20 7946 0958"]
    )
    preferred_channel: ContactChannel = Field(
        default="email",
        description=(
            "How the customer wants to hear back. When given, email needs `email`, sms and phone "
            "need `phone`; by default e-mail, else SMS, whichever address there is."
        ),
    )
    language: LanguageTag = Field(default="en", description="BCP 47 language tag, e.g. en, ru, fa.")
    tier: str | None = Field(default=None, max_length=40, examples=["gold"])
    region: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{2}(-[A-Za-z0-9]{1,3})?$",
        description="ISO 3166-2 region (or country) of the customer: business days follow its calendar.",
        examples=["GB-SCT"],
    )


class CustomerIn(Customer, RequestModel):
    """The customer as a CRM files them: a real language, and the preferred channel's address."""

    name: NonBlank | None = Field(default=None, min_length=1, max_length=200, examples=["Ana Lima"])
    language: Language = Field(
        default="en",
        description=(
            "BCP 47 language tag with an ISO 639-1 language, e.g. en, ru, fa, pt-BR. Messages use the "
            "most specific locale shipped, then the language alone, then English."
        ),
    )

    @model_validator(mode="after")
    def _reachable_as_preferred(self) -> CustomerIn:
        """A channel the CRM chose needs its address; the default (email) falls back to what the
        customer gave (notifications: e-mail, else SMS, else the message is recorded as failed)."""
        needed = CHANNEL_ADDRESS.get(self.preferred_channel)
        chosen = "preferred_channel" in self.model_fields_set
        if chosen and needed is not None and getattr(self, needed) is None:
            raise ValueError(f"preferred_channel {self.preferred_channel} needs the customer's {needed}")
        return self


class ComplaintDraft(RequestModel):
    """A complaint as filed: everything the agent captured, validated with a limit on every size."""

    customer: CustomerIn
    channel: Channel = Field(description="Where the customer complained.")
    category: ShortText = Field(description="What the complaint is about.", examples=["billing"])
    product: NonBlank | None = Field(default=None, min_length=1, max_length=200, examples=["Fibre 500"])
    severity: Severity = "medium"
    description: NonBlank = Field(
        min_length=1, max_length=10_000, description="The complaint in the customer's own words."
    )
    amount_at_stake: MoneyIn | None = Field(
        default=None, description='What the customer says is at stake (a decimal string, e.g. "39.90").'
    )
    occurred_at: PastTime | None = Field(
        default=None, description="When the problem happened: with a time zone, within a century, not ahead."
    )
    agent_id: str | None = Field(default=None, min_length=1, max_length=100, description="Who took it.")
    crm_reference: str | None = Field(
        default=None, min_length=1, max_length=100, description="The CRM's own case id; unique per client."
    )
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    confidential: bool = Field(
        default=False, description="Handle with care: minimal wording, restricted reads."
    )


REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def reference_for(complaint_id: UUID, filed_at: datetime) -> str:
    """A short reference a customer can read out on the phone: the year plus 8 characters.

    Derived from the id, so it is as unique as the first 40 bits of a random id and needs no counter.
    """
    value = complaint_id.int >> 88
    chars = []
    for _ in range(8):
        value, digit = divmod(value, 32)
        chars.append(REFERENCE_ALPHABET[digit])
    return f"C{filed_at:%y}-{''.join(reversed(chars))}"


def created_event(
    complaint_id: UUID,
    reference: str,
    client_id: str,
    filed_at: datetime,
    draft: ComplaintDraft,
    deadlines: list[Deadline] | None = None,
    link: RepeatLink | None = None,
    flags: list[CustomerFlag] | None = None,
) -> ComplaintCreatedV1:
    """The data of `complaint.created`: what the other services need and no more.

    The description (the customer's own words) stays in intake; no consumer needs it. The repeat
    link and the customer's flags travel so compensation never pays a duplicate nor rewards a
    flagged customer automatically.
    """
    return ComplaintCreatedV1(
        complaint_id=complaint_id,
        reference=reference,
        client_id=client_id,
        crm_reference=draft.crm_reference,
        customer=CustomerContact.model_validate(draft.customer.model_dump()),
        channel=draft.channel,
        category=draft.category,
        product=draft.product,
        severity=draft.severity,
        amount_at_stake=draft.amount_at_stake,
        occurred_at=draft.occurred_at,
        filed_at=filed_at,
        agent_id=draft.agent_id,
        confidential=draft.confidential,
        tags=draft.tags,
        deadlines=deadlines or [],
        repeat_of=link.repeat_of if link else None,
        repeat_kind=link.kind.value if link else None,
        customer_flags=[flag.value for flag in flags or []],
    )
