"""Compensation's test fixtures: the shared server fixtures, and complaints to decide.

The shared server fixtures (`database_url`, `kafka_bootstrap`, `topics`) come from the repo-root
conftest.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from complaints_common.events.contracts import ComplaintCreatedV1


def complaint(
    *,
    category: str = "general",
    stake: str | None = "40.00",
    currency: str = "EUR",
    severity: str = "medium",
    channel: str = "phone",
    tags: list[str] | None = None,
    customer_id: str = "CUST-1",
    email: str | None = None,
    **extra: Any,
) -> ComplaintCreatedV1:
    """A complaint.created event's data, as intake would publish it."""
    return ComplaintCreatedV1.model_validate(
        {
            "complaint_id": str(uuid4()),
            "reference": "C-TEST",
            "client_id": "crm-test",
            "customer": {"customer_id": customer_id, "email": email},
            "channel": channel,
            "category": category,
            "severity": severity,
            "amount_at_stake": {"amount": stake, "currency": currency} if stake else None,
            "filed_at": datetime.now(UTC).isoformat(),
            "tags": tags or [],
            **extra,
        }
    )
