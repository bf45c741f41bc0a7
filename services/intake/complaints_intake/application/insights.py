"""Insights: fix the process, not the people. Aggregates only, so no personal data leaves here."""

from __future__ import annotations

from datetime import UTC, datetime

from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.store.insights import Insights, insights


async def insights_for(
    deps: IntakeDependencies, client_id: str, filed_from: datetime | None, filed_to: datetime | None
) -> Insights:
    async with deps.runtime.db.transaction() as session:
        return await insights(session, client_id, filed_from, filed_to, datetime.now(UTC))
