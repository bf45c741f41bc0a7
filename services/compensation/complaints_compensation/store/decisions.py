"""Reading and writing compensation decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from complaints_common.events.contracts import CompensationGrantedV1
from complaints_compensation.store.tables import decisions


async def record_grant(session: AsyncSession, grant: CompensationGrantedV1, expires: datetime | None) -> bool:
    """Store a granted decision; False when the complaint already has one (nothing is written)."""
    offer = grant.offer
    statement = (
        insert(decisions)
        .values(
            id=grant.decision_id,
            complaint_id=grant.complaint_id,
            customer_id=grant.customer_id,
            status="granted",
            offer=offer.model_dump(mode="json"),
            value_amount=offer.value.amount,
            cost_amount=offer.cost.amount,
            currency=offer.value.currency,
            voucher_code=grant.voucher_code,
            voucher_expires_at=expires,
            rule_id=grant.rule_id,
            policy_version=grant.policy_version,
            authority=grant.authority,
            granted_by=grant.granted_by,
            decided_at=grant.granted_at,
        )
        .on_conflict_do_nothing(index_elements=[decisions.c.complaint_id])
        .returning(decisions.c.id)
    )
    return (await session.execute(statement)).first() is not None


async def decision_for(session: AsyncSession, complaint_id: UUID) -> dict[str, Any] | None:
    row = (await session.execute(select(decisions).where(decisions.c.complaint_id == complaint_id))).first()
    return dict(row._mapping) if row else None
