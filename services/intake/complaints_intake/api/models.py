"""Request and response bodies of intake's REST API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from complaints_common.events.contracts import Deadline, Money, Outcome
from complaints_common.validation import MoneyIn, NonBlank, RequestModel
from complaints_intake.domain.complaint import ComplaintDraft, Customer, Status
from complaints_intake.domain.journey import Journey
from complaints_intake.domain.lifecycle import LETTERS, Action, RootCause, allowed_actions
from complaints_intake.store.complaints import ComplaintRecord

EXAMPLE_DRAFT: dict[str, Any] = {
    "customer": {
        "customer_id": "CUST-1042",
        "name": "Ana Lima",
        "email": "ana.lima@example.com",
        "preferred_channel": "email",
        "language": "en",
    },
    "channel": "phone",
    "category": "billing",
    "product": "Fibre 500",
    "severity": "medium",
    "description": "I was charged twice for October.",
    "amount_at_stake": {"amount": "39.90", "currency": "EUR"},
    "occurred_at": "2026-10-31T18:00:00Z",
    "agent_id": "agent-17",
    "crm_reference": "CASE-000123",
}

ReasonCode = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
]


class FileComplaint(ComplaintDraft):
    """A complaint to file."""

    model_config = {"json_schema_extra": {"examples": [EXAMPLE_DRAFT]}}


class DueTimeView(Deadline):
    """A due time with whether it was met, and when."""

    met_at: datetime | None = Field(default=None, description="When the complaint reached the status.")
    breach: bool = Field(default=True, description="Whether missing it is a breach.")


class ComplaintView(BaseModel):
    """A complaint as intake holds it, with its journey through the other services."""

    id: UUID
    reference: str = Field(description="Short reference to give the customer.", examples=["C26-0Q3V9K2M"])
    status: Status
    client_id: str
    crm_reference: str | None
    customer: Customer
    channel: str
    category: str
    product: str | None
    severity: str
    description: str
    amount_at_stake: Money | None
    occurred_at: datetime | None
    filed_at: datetime
    agent_id: str | None
    tags: list[str]
    confidential: bool
    updated_at: datetime
    escalation_level: int = Field(description="0 until escalated; each escalation adds one.")
    waiting_on_customer: bool = Field(description="True while the clock is paused.")
    reopen_count: int
    root_cause: RootCause | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    allowed_actions: list[Action] = Field(description="The transitions the complaint accepts now.")
    journey: Journey
    deadline_profile: str | None
    deadline_profile_reason: str | None = Field(description="Why the complaint got this profile.")
    calendar: str | None = Field(description="The calendar its business days count on.")
    calendar_reason: str | None = Field(description="Why this calendar.")
    deadlines: list[DueTimeView] = Field(
        description=(
            "The profile's due times; once reopened also `reopened_resolution`, running from the "
            "latest reopen to the next resolution (the profile's `reopened` rule)."
        )
    )
    next_due_at: datetime | None = Field(description="The earliest due time still running.")
    repeat_of: UUID | None = Field(description="The earlier complaint of this customer this one repeats.")
    repeat_kind: str | None = Field(description="'duplicate' (same matter, soon after) or 'repeat'.")
    outcome: Outcome | None = Field(description="The final response's outcome.")
    redress: Money | None = Field(description="The redress the final response offered.")
    abusive_conduct_at: datetime | None = Field(
        description="When an agent flagged abusive conduct towards staff (it moved to a supervisor)."
    )

    @classmethod
    def of(cls, record: ComplaintRecord) -> ComplaintView:
        return cls.model_validate(
            {
                **{name: getattr(record, name) for name in RECORD_FIELDS},
                "amount_at_stake": record.amount_at_stake,
                "redress": record.redress,
                "deadlines": [d.as_dict() for d in record.deadlines],
                "allowed_actions": allowed_actions(record.lifecycle, datetime.now(UTC)),
            }
        )


# What a complaint's view shows of its record as stored (the rest is derived from it).
RECORD_FIELDS = [name for name in ComplaintView.model_fields if name in ComplaintRecord.__dataclass_fields__]


class Transition(RequestModel):
    """One step in the complaint's life and why. Who asked is the authenticated caller (the
    person of a bearer token, else the API key), recorded in the history."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"action": "resolve", "reason": "refund_issued", "root_cause": "process"}]
        },
    )

    action: Action = Field(
        description=(
            "acknowledge, start, resolve, close, reopen, escalate, pause, resume; the regulatory "
            "letters holding_response, summary_resolution and final_response."
        )
    )
    reason: ReasonCode | None = Field(
        default=None, description="A reason code (published in events, so never free text)."
    )
    note: NonBlank | None = Field(
        default=None, min_length=1, max_length=2000, description="Free text for the audit; never published."
    )
    root_cause: RootCause | None = Field(
        default=None, description="Only with `resolve`, `summary_resolution` or `final_response`."
    )
    outcome: Outcome | None = Field(
        default=None, description="Required with `final_response`: upheld, partly_upheld or rejected."
    )
    redress: MoneyIn | None = Field(default=None, description="Only with `final_response`: what is offered.")
    explanation: NonBlank | None = Field(
        default=None,
        min_length=1,
        max_length=5000,
        description=(
            "A letter's own words to the customer, in their language: required with "
            "`holding_response` (the reasons), optional with the other letters."
        ),
    )

    @model_validator(mode="after")
    def _letter_fields(self) -> Transition:
        final = self.action is Action.FINAL_RESPONSE
        if final != (self.outcome is not None):
            raise ValueError("`outcome` is required with final_response and allowed only with it.")
        if self.redress is not None and not final:
            raise ValueError("`redress` is allowed only with final_response.")
        if self.explanation is not None and self.action not in LETTERS:
            raise ValueError("`explanation` is the text of a letter: only with a letter action.")
        if self.action is Action.HOLDING_RESPONSE and self.explanation is None:
            raise ValueError("A holding response gives the reasons: `explanation` is required.")
        return self


class HistoryEntry(BaseModel):
    """One audited change: who, when, from, to, why."""

    at: datetime
    actor: str
    action: str
    from_status: Status | None
    to_status: Status | None
    escalation_level: int
    reason: str | None
    note: str | None


class ComplaintHistory(BaseModel):
    complaint_id: UUID
    entries: list[HistoryEntry]


class ComplaintSummary(BaseModel):
    """A complaint in a list: enough to pick it, without the customer's words or contact details."""

    id: UUID
    reference: str
    status: Status
    crm_reference: str | None
    customer_id: str
    channel: str
    category: str
    product: str | None
    severity: str
    filed_at: datetime
    agent_id: str | None
    confidential: bool
    escalation_level: int
    waiting_on_customer: bool
    next_due_at: datetime | None = Field(description="The earliest due time still running.")
    repeat_of: UUID | None
    repeat_kind: str | None
    abusive_conduct_at: datetime | None = Field(
        description="When an agent flagged abusive conduct towards staff on this complaint."
    )


class ComplaintPage(BaseModel):
    """One page of complaints; pass `next_cursor` as `cursor` for the next page (null at the end)."""

    items: list[ComplaintSummary]
    next_cursor: str | None = Field(examples=["eyJmIjoiMjAyNi0xMS0yM1QxNjowMDowMCswMDowMCJ9"])


class ConductFlag(RequestModel):
    """What happened, for the supervisor (who flags it is the authenticated agent, never the body)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "Shouted and swore at the agent twice."}]}
    )

    note: NonBlank | None = Field(default=None, min_length=1, max_length=500)


class CustomerComplaints(BaseModel):
    """A customer's complaints across every channel, newest first, with what stands out."""

    customer_id: str
    total: int = Field(description="Complaints of this customer visible to this key.")
    open: int
    repeats: int = Field(description="How many were linked as a repeat or duplicate of an earlier one.")
    flags: list[str] = Field(
        description="'repeated_extreme' when critical complaints keep coming: review, do not reward; "
        "'abusive_conduct' when an agent flagged abusive conduct towards staff on one of them."
    )
    items: list[ComplaintSummary]
    next_cursor: str | None
