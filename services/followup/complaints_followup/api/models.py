"""Request and response bodies of follow-up's REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, model_validator

from complaints_common.validation import NonBlank
from complaints_followup.domain.outcome import Outcome

FOLLOWUP_EXAMPLE: dict[str, Any] = {
    "id": "0b7f6a52-3d7e-4c47-a0b4-6ad3a6f3f1d2",
    "complaint_id": "5f0c2f9e-8a4b-4a7e-9a51-6c1f0f7e3b11",
    "kind": "satisfaction_check",
    "attempt": 1,
    "due_at": "2026-11-26T10:00:00Z",
    "status": "fired",
    "fired_at": "2026-11-26T10:00:00.4Z",
    "deadline_name": None,
    "team": "customer-care",
    "agent_id": "agent-17",
    "overdue": False,
}


class FollowupView(BaseModel):
    """A scheduled, fired, done or cancelled follow-up."""

    model_config = ConfigDict(json_schema_extra={"examples": [cast(JsonValue, FOLLOWUP_EXAMPLE)]})

    id: UUID
    complaint_id: UUID
    kind: str = Field(
        description="satisfaction_check, deadline_warning, deadline_breach, manual, review_request"
    )
    attempt: int = Field(description="1 for the first call, 2 and 3 for retries when not reached.")
    due_at: datetime
    status: str = Field(description="scheduled, fired (waiting for the call-back), done or cancelled.")
    fired_at: datetime | None
    deadline_name: str | None = Field(default=None, description="For deadline watches: which due time.")
    team: str | None = None
    agent_id: str | None = None
    cancel_reason: str | None = None
    note: str | None = Field(default=None, description="The agent's note (manual follow-ups).")
    outcome: Outcome | None = None
    csat: int | None = None
    nps: int | None = None
    comment: str | None = None
    recorded_by: str | None = None
    recorded_at: datetime | None = None
    overdue: bool = Field(default=False, description="Fired and still without an outcome past the grace.")


class ManualFollowupIn(BaseModel):
    """An agent flags a customer for a call-back at a time of their choosing."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "due_at": "2027-01-15T09:30:00Z",
                    "team": "customer-care",
                    "agent_id": "agent-17",
                    "note": "Call after the replacement is delivered.",
                }
            ]
        },
    )

    due_at: AwareDatetime = Field(
        description="When the call-back falls due: with a time zone, from now to a year ahead."
    )
    team: str | None = Field(
        default=None, min_length=1, max_length=100, description="Defaults to the service's team."
    )
    agent_id: str | None = Field(
        default=None, min_length=1, max_length=100, description="Whose worklist it goes to (an assignment)."
    )
    note: NonBlank | None = Field(
        default=None, max_length=2000, description="Stored for the agent; never logged or published."
    )


class OutcomeIn(BaseModel):
    """What the call-back found. Scores and satisfaction only when the customer was reached. Who
    made the call is the authenticated caller (the person of a bearer token), never the body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reached": True, "satisfied": True, "csat": 5, "nps": 9},
                {"reached": True, "satisfied": False, "csat": 2, "comment": "Voucher did not work."},
                {"reached": False},
            ]
        },
    )

    reached: bool
    satisfied: bool | None = Field(default=None, description="Required when reached.")
    csat: int | None = Field(default=None, ge=1, le=5, description="Customer satisfaction, 1-5.")
    nps: int | None = Field(default=None, ge=0, le=10, description="Likelihood to recommend, 0-10.")
    comment: NonBlank | None = Field(
        default=None, max_length=2000, description="Personal data: stored, never logged or published."
    )

    @model_validator(mode="after")
    def _consistent(self) -> OutcomeIn:
        if self.reached and self.satisfied is None:
            raise ValueError("satisfied is required when the customer was reached")
        if not self.reached and (self.satisfied is not None or self.csat is not None or self.nps is not None):
            raise ValueError("satisfied, csat and nps are only for a customer who was reached")
        return self


class OutcomeRecorded(BaseModel):
    """The follow-up with its outcome, and the follow-up it led to (a retry or a review request)."""

    followup: FollowupView
    outcome: Outcome
    next_followup: FollowupView | None = None


class Worklist(BaseModel):
    """One page of follow-ups waiting for a call-back, oldest first."""

    items: list[FollowupView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


Grouping = Literal["period", "category", "agent", "remedy", "kind"]
Period = Literal["day", "week", "month"]


class OutcomeGroup(BaseModel):
    """Outcomes of one group: counts, CSAT average and NPS."""

    key: dict[str, str]
    recorded: int = Field(description="Call-backs recorded, including attempts that did not reach anyone.")
    satisfied: int
    dissatisfied: int
    not_reached: int
    unreachable: int
    csat_average: float | None
    csat_answers: int
    nps: float | None = Field(description="% promoters (9-10) minus % detractors (0-6).")
    nps_answers: int


class OutcomeSummary(BaseModel):
    group_by: list[Grouping]
    period: Period
    groups: list[OutcomeGroup]
