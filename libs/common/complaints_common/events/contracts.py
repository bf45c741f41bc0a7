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
FollowupKind = Literal[
    "satisfaction_check", "deadline_warning", "deadline_breach", "manual", "callback_task", "review_request"
]
ComplaintStatus = Literal["received", "acknowledged", "in_progress", "resolved", "closed"]
DecisionStatus = Literal["granted", "pending_approval", "refused", "held", "rejected"]
VoucherChange = Literal["redeemed", "expired", "clawed_back"]
FollowupOutcomeKind = Literal["satisfied", "dissatisfied", "unreachable", "not_reached"]
NotificationStatus = Literal["sent", "failed", "dead_lettered"]
# What replaces free text and names when a customer's personal data is erased (ids are kept).
ERASED = "[erased]"
DeadlineKind = Literal["statutory", "operational"]
LetterKind = Literal["holding_response", "summary_resolution", "final_response"]
Outcome = Literal["upheld", "partly_upheld", "rejected"]
RepeatKind = Literal["duplicate", "repeat"]
# Open-ended so a new flag never breaks an older consumer; every flag means "a person decides".
CustomerFlag = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["repeated_extreme"])]


class Payload(BaseModel):
    """Base of all event data; `subject` is the CloudEvents subject and the Kafka key."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @property
    def subject(self) -> str:
        raise NotImplementedError


class EventData(Payload):
    """Base of a complaint's events: about one complaint, whose id is also the Kafka key, of one
    CRM client (tenant), whose id every consumer keeps on the rows the event makes."""

    complaint_id: UUID
    # Optional only so that events written before tenants travelled stay readable; every producer
    # sets it, and a consumer without it falls back to what it stored from the complaint's creation.
    client_id: str | None = Field(
        default=None, max_length=100, description="The CRM client (tenant) the complaint belongs to."
    )

    @property
    def subject(self) -> str:
        return str(self.complaint_id)


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


class Deadline(BaseModel):
    """A due time the complaint carries (acknowledge, first response, final response...)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(max_length=60, examples=["final_response"])
    due_at: datetime | None = Field(description="None while the clock is paused.")
    paused: bool = False
    profile: str | None = Field(default=None, max_length=60, examples=["uk-fca-disp"])
    met_at: datetime | None = Field(default=None, description="When the deadline was met; None while open.")
    breach: bool = Field(default=True, description="Whether missing it is a breach (False: a target).")
    kind: DeadlineKind = Field(
        default="operational",
        description="statutory: runs from receipt, never paused; operational: paused while waiting.",
    )


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
    deadlines: list[Deadline] = Field(default_factory=list, max_length=20)
    # What compensation's abuse rules need (nobody paid twice, the flagged not rewarded); optional
    # so that events written before they travelled stay readable.
    repeat_of: UUID | None = Field(
        default=None, description="The earlier complaint of this customer this one repeats or duplicates."
    )
    repeat_kind: RepeatKind | None = Field(
        default=None,
        description="duplicate: the same matter filed again soon (never compensated twice); repeat: back "
        "about the same category or product.",
    )
    customer_flags: list[CustomerFlag] = Field(
        default_factory=list,
        max_length=10,
        description="What intake knows of the customer that a person should weigh, e.g. repeated_extreme "
        "(critical complaints keep coming: review, do not reward). Compensation holds the automatic "
        "grant of a flagged customer's complaint for a supervisor.",
    )


class ComplaintStatusChangedV1(EventData):
    """A complaint moved in its lifecycle (acknowledged, in progress, resolved, closed, reopened,
    escalated). Reopen and escalate are status changes with a reason and an escalation level."""

    customer_id: str = Field(max_length=100)
    from_status: ComplaintStatus
    to_status: ComplaintStatus
    reopened: bool = False
    escalated: bool | None = Field(
        default=None,
        description="True when this change is an escalation (the level rose). Every later change keeps "
        "the level, so only this says the escalation happened now; None from producers before it.",
    )
    escalation_level: int = Field(default=0, ge=0, le=10)
    reason: str | None = Field(default=None, max_length=100, description="A reason code, never free text.")
    actor: str = Field(max_length=100, description="Who made the change: an agent id or a service.")
    changed_at: datetime
    deadlines: list[Deadline] = Field(default_factory=list, max_length=20)
    letter_kind: LetterKind | None = Field(
        default=None,
        description="Set when a regulatory letter (complaint.letter_issued) tells the customer of it.",
    )


class ComplaintDeadlinesChangedV1(EventData):
    """The complaint's due times were recomputed (the clock paused or resumed, a profile changed)."""

    deadlines: list[Deadline] = Field(max_length=20)
    changed_at: datetime


class ComplaintLetterIssuedV1(EventData):
    """A regulatory letter to the customer: a holding response, a summary resolution communication
    or a final response, with the content its regulator requires already in the customer's language.
    Intake keeps the same letter for the audit; notifications sends it."""

    letter_id: UUID
    customer_id: str = Field(max_length=100)
    kind: LetterKind
    regime: str | None = Field(default=None, max_length=40, examples=["uk-fca"])
    language: str = Field(max_length=35, description="The language the required content is in.")
    outcome: Outcome | None = Field(default=None, description="Final responses only.")
    redress: Money | None = None
    explanation: str | None = Field(
        default=None, max_length=5000, description="The firm's own words to the customer: reasons, decision."
    )
    required_content: list[str] = Field(
        default_factory=list, max_length=20, description="The paragraphs the regulator requires, in order."
    )
    respond_by: datetime | None = Field(default=None, description="When the customer will hear back.")
    issued_by: str = Field(max_length=100)
    issued_at: datetime


class ComplaintErasureRequestedV1(EventData):
    """The customer asked to be forgotten: every service pseudonymises its personal data of this
    complaint (names, contacts, free text), keeping ids and figures so the regulatory record stays."""

    erasure_id: UUID
    customer_id: str = Field(max_length=100)
    requested_by: str = Field(max_length=100)
    requested_at: datetime


class Offer(BaseModel):
    """What the customer gets: valued at retail for the customer, and at cost for us."""

    model_config = ConfigDict(frozen=True)

    kind: OfferKind
    description: str = Field(max_length=500)
    value: Money
    cost: Money
    percentage: Decimal | None = Field(default=None, ge=0, le=100)


class CompensationGrantedV1(EventData):
    """Compensation was granted, automatically within authority or on approval. A grant is announced
    by this event alone (no `compensation.decision_recorded` with it): it carries the decision as
    that record did, its status being `granted`."""

    decision_id: UUID = Field(description="The decision in compensation's audit trail.")
    customer_id: str = Field(max_length=100)
    offer: Offer
    voucher_code: str | None = Field(default=None, max_length=64)
    voucher_expires_at: datetime | None = None
    rule_id: str = Field(max_length=100, description="The policy rule that decided it.")
    policy_version: str = Field(max_length=40)
    authority: Literal["frontline", "supervisor", "manager"] = "frontline"
    reason: str | None = Field(
        default=None,
        max_length=200,
        description="The decision's reason, as the decision record would say it.",
    )
    granted_by: str = Field(
        max_length=100,
        description="Who decided: 'auto', the person whose authority covered the offer, or the approver.",
    )
    granted_at: datetime = Field(description="When it was decided and granted (the decision's time).")


class OfferOption(BaseModel):
    """One offer the front line may make: the policy rule that makes it, and the offer."""

    model_config = ConfigDict(frozen=True)

    option_id: str = Field(max_length=100, examples=["retail.defective"])
    offer: Offer


class CompensationOptionsOfferedV1(EventData):
    """An agent is on the line: instead of one automatic offer, the customer is given two or three
    options of different kinds, each within the front line's authority, to choose from. The choice
    (or, when none is recorded by `choose_by`, the first option) arrives as a decision."""

    customer_id: str = Field(max_length=100)
    options: list[OfferOption] = Field(min_length=2, max_length=3)
    policy_version: str = Field(max_length=40)
    choose_by: datetime
    offered_at: datetime


class CompensationDecisionRecordedV1(EventData):
    """A compensation decision that does not grant was taken or changed: waiting for approval (also
    after a sign-off that passes it to the next level), held by an abuse rule, refused, or rejected
    by an approver. The rule that decided it is named. A grant is announced by `compensation.granted`
    alone; records with status `granted` were published before that and are still understood."""

    decision_id: UUID
    customer_id: str = Field(max_length=100)
    status: DecisionStatus
    offer: Offer | None = None
    rule_id: str = Field(max_length=100)
    policy_version: str = Field(max_length=40)
    reason: str | None = Field(default=None, max_length=200)
    decided_by: str = Field(max_length=100)
    decided_at: datetime


class VoucherChangedV1(EventData):
    """A granted voucher or coupon was redeemed, expired or clawed back."""

    decision_id: UUID
    change: VoucherChange
    changed_by: str = Field(max_length=100)
    changed_at: datetime
    reason: str | None = Field(default=None, max_length=200)


class FollowupDueV1(EventData):
    """A follow-up fell due: a satisfaction check to make, or a deadline about to be or already missed."""

    followup_id: UUID
    customer_id: str = Field(max_length=100)
    kind: FollowupKind
    due_at: datetime
    fired_at: datetime
    attempt: int = Field(default=1, ge=1)
    deadline_name: str | None = Field(default=None, max_length=60)


class FollowupScheduledV1(EventData):
    """A satisfaction check was scheduled for the complaint, due at `due_at`. The CRM's journey shows
    the follow-up as soon as it is planned; `followup.due` says when it fell due."""

    followup_id: UUID
    customer_id: str = Field(max_length=100)
    kind: FollowupKind
    due_at: datetime
    scheduled_at: datetime


class FollowupOutcomeV1(EventData):
    """An agent recorded the call-back: reached or not, satisfied or not. A dissatisfied outcome
    makes intake reopen and escalate the complaint."""

    followup_id: UUID
    customer_id: str = Field(max_length=100)
    outcome: FollowupOutcomeKind
    attempt: int = Field(default=1, ge=1)
    csat: int | None = Field(default=None, ge=1, le=5)
    nps: int | None = Field(default=None, ge=0, le=10)
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime


class ApiKeyChangedV1(Payload):
    """An API key was issued or revoked through intake's admin API. Every service keeps the latest
    state per key (the topic is compacted, keyed by the key id) in its own `api_keys` table. It
    carries the SHA-256 digest the services compare against, never the secret."""

    key_id: UUID
    client_id: str = Field(max_length=100, description="The CRM client (tenant) the key is bound to.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: list[str] = Field(max_length=10)
    label: str | None = Field(default=None, max_length=100)
    created_at: datetime
    revoked_at: datetime | None = None
    changed_by: str = Field(max_length=200, description="Who issued or revoked it (person or key).")
    changed_at: datetime

    @property
    def subject(self) -> str:
        return str(self.key_id)


class NotificationStatusV1(EventData):
    """What happened to one message to the customer or the CRM (no content, no address)."""

    message_id: UUID
    kind: str = Field(max_length=60)
    channel: str = Field(max_length=20)
    status: NotificationStatus
    attempts: int = Field(default=1, ge=1)
    at: datetime
