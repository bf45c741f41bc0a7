"""Follow-up's test helpers: a complaint settled as the two events reach follow-up, and what the
service wrote to its outbox. The shared server fixtures come from the repo-root conftest.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select

from complaints_common.events.contracts import OfferKind
from complaints_common.runtime import Runtime
from complaints_devstack.factories import CLIENT, compensation_granted, complaint_created
from complaints_devstack.service_testing import delivery
from complaints_followup.main import SERVICE
from complaints_followup.store.tables import outbox

deliver = delivery(SERVICE)


async def settled_complaint(
    runtime: Runtime,
    at: datetime,
    customer: str | None = None,
    *,
    kind: OfferKind = "coupon",
    category: str = "billing",
    client: str = CLIENT,
) -> UUID:
    """A new complaint filed and granted compensation at `at`, as both events reach follow-up: its
    satisfaction check is scheduled. The complaint's id; the customer is its own unless named."""
    complaint_id = uuid4()
    customer = customer or f"cust-{complaint_id.hex[:8]}"
    await deliver(runtime, complaint_created(complaint_id, customer, at, category=category, client=client))
    await deliver(runtime, compensation_granted(complaint_id, customer, at, kind=kind, client=client))
    return complaint_id


async def published(runtime: Runtime, ce_type: str) -> list[dict[str, Any]]:
    """The data of the `ce_type` events written to the outbox, in the order the relay publishes them."""
    async with runtime.db.transaction() as session:
        rows = await session.execute(
            select(outbox.c.payload).where(outbox.c.type == ce_type).order_by(outbox.c.seq)
        )
        return [row.payload for row in rows]
