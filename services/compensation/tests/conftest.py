"""Compensation's test fixtures: the shared server fixtures, and complaints to decide.

The shared fixtures (`database_url`, `kafka_bootstrap`, `topics`) live in tests/conftest.py and are
moving to the repo-root conftest.py; until that lands they are loaded from tests/conftest.py here.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from complaints_common.events.contracts import ComplaintCreatedV1

ROOT = Path(__file__).resolve().parents[3]

if not (ROOT / "conftest.py").exists():
    _spec = importlib.util.spec_from_file_location(
        "_compensation_shared_fixtures", ROOT / "tests" / "conftest.py"
    )
    assert _spec is not None and _spec.loader is not None
    _shared = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_shared)
    pg_server_url = _shared.pg_server_url
    database_url = _shared.database_url
    kafka_bootstrap = _shared.kafka_bootstrap
    topic_prefix = _shared.topic_prefix
    topics = _shared.topics


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
