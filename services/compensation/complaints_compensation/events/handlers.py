"""What compensation does with the events it consumes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncSession

from complaints_common.consumer import Subscription
from complaints_common.events.contracts import CompensationGrantedV1, ComplaintCreatedV1
from complaints_common.events.envelope import COMPENSATION_GRANTED_V1, COMPLAINT_CREATED_V1, Event
from complaints_common.runtime import Runtime
from complaints_compensation.domain.policy import POLICY_VERSION, decide, new_voucher_code
from complaints_compensation.settings import CompensationSettings
from complaints_compensation.store.decisions import record_grant

SOURCE = "/complaints/compensation"


def subscriptions(runtime: Runtime) -> list[Subscription]:
    settings = cast(CompensationSettings, runtime.settings)
    validity = timedelta(days=settings.voucher_validity_days)

    async def on_complaint_created(session: AsyncSession, event: Event[Any]) -> None:
        complaint: ComplaintCreatedV1 = event.data
        decision = decide(complaint)
        if not decision.within_frontline_authority:
            return  # approvals come with the full compensation service
        now = datetime.now(UTC)
        expires = now + validity
        grant = CompensationGrantedV1(
            complaint_id=complaint.complaint_id,
            decision_id=uuid4(),
            customer_id=complaint.customer.customer_id,
            offer=decision.offer,
            voucher_code=new_voucher_code(),
            voucher_expires_at=expires,
            rule_id=decision.rule_id,
            policy_version=POLICY_VERSION,
            authority="frontline",
            granted_by="auto",
            granted_at=now,
        )
        if await record_grant(session, grant, expires):
            await runtime.outbox.add(session, Event(COMPENSATION_GRANTED_V1, grant, SOURCE))

    return [Subscription(COMPLAINT_CREATED_V1, on_complaint_created)]
