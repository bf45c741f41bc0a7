"""Reading and writing complaints."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from complaints_intake.domain.complaint import ComplaintDraft, Status
from complaints_intake.store.tables import complaints


async def insert_complaint(
    session: AsyncSession,
    *,
    complaint_id: UUID,
    reference: str,
    client_id: str,
    filed_at: datetime,
    draft: ComplaintDraft,
) -> None:
    amount = draft.amount_at_stake
    await session.execute(
        complaints.insert().values(
            id=complaint_id,
            reference=reference,
            client_id=client_id,
            crm_reference=draft.crm_reference,
            customer_id=draft.customer.customer_id,
            customer=draft.customer.model_dump(mode="json"),
            channel=draft.channel,
            category=draft.category,
            product=draft.product,
            severity=draft.severity,
            description=draft.description,
            amount=amount.amount if amount else None,
            currency=amount.currency if amount else None,
            occurred_at=draft.occurred_at,
            filed_at=filed_at,
            agent_id=draft.agent_id,
            tags=draft.tags,
            confidential=draft.confidential,
            status=Status.RECEIVED,
            updated_at=filed_at,
        )
    )


async def get_complaint(session: AsyncSession, complaint_id: UUID) -> dict[str, Any] | None:
    row = (await session.execute(select(complaints).where(complaints.c.id == complaint_id))).first()
    return dict(row._mapping) if row else None
