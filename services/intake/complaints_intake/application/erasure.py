"""Erasure requests: a customer's personal data pseudonymised in every service, the record kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from complaints_common.api import Principal
from complaints_common.events.contracts import ComplaintErasureRequestedV1
from complaints_common.events.envelope import COMPLAINT_ERASURE_REQUESTED_V1, Event
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.events.publishing import SOURCE
from complaints_intake.store.erasure import record_erasure


@dataclass(frozen=True, slots=True)
class Erasure:
    erasure_id: UUID
    complaint_ids: list[UUID]  # the client's complaints of the customer it covers
    requested_at: datetime


async def request_erasure(deps: IntakeDependencies, principal: Principal, customer_id: str) -> Erasure:
    """Audit the request and publish it per complaint (the key every consumer orders by); intake
    pseudonymises its own data as it consumes the event, like the other services."""
    erasure_id, at = uuid4(), datetime.now(UTC)
    async with deps.runtime.db.transaction() as session:
        ids = await record_erasure(session, erasure_id, principal.client, customer_id, principal.actor_id, at)
        for complaint_id in ids:
            data = ComplaintErasureRequestedV1(
                complaint_id=complaint_id,
                client_id=principal.client,
                erasure_id=erasure_id,
                customer_id=customer_id,
                requested_by=principal.actor_id,
                requested_at=at,
            )
            await deps.runtime.outbox.add(session, Event(COMPLAINT_ERASURE_REQUESTED_V1, data, SOURCE))
    return Erasure(erasure_id, ids, at)
