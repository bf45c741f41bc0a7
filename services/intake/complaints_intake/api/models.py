"""Request and response bodies of intake's REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from complaints_common.events.contracts import Money
from complaints_intake.domain.complaint import ComplaintDraft, Customer, Status

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
    "agent_id": "agent-17",
    "crm_reference": "CASE-000123",
}


class FileComplaint(ComplaintDraft):
    """A complaint to file."""

    model_config = {"json_schema_extra": {"examples": [EXAMPLE_DRAFT]}}


class ComplaintView(BaseModel):
    """A complaint as intake holds it."""

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

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ComplaintView:
        amount = Money(amount=row["amount"], currency=row["currency"]) if row["amount"] is not None else None
        return cls.model_validate({**row, "amount_at_stake": amount})
