"""Reading a complaint and its history, as the caller may see them."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.api import Principal
from complaints_common.problems import NotFound
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.store.complaints import ComplaintRecord, HistoryRecord, get_complaint, history_of


def may_see(principal: Principal, complaint: ComplaintRecord) -> bool:
    """Same client, and for a confidential complaint a key allowed to read confidential ones."""
    if complaint.client_id != principal.client:
        return False
    if complaint.confidential:
        return principal.sees_confidential
    return True


async def visible_complaint(
    session: AsyncConnection, complaint_id: UUID, principal: Principal, *, for_update: bool = False
) -> ComplaintRecord:
    """The complaint, or 404 alike for "absent" and "not yours" so ids reveal nothing."""
    complaint = await get_complaint(session, complaint_id, for_update=for_update)
    if complaint is None or not may_see(principal, complaint):
        raise NotFound("No complaint with this id.")
    return complaint


async def complaint_for(
    deps: IntakeDependencies, principal: Principal, complaint_id: UUID
) -> ComplaintRecord:
    async with deps.runtime.db.transaction() as session:
        return await visible_complaint(session, complaint_id, principal)


async def history_for(
    deps: IntakeDependencies, principal: Principal, complaint_id: UUID
) -> list[HistoryRecord]:
    """Every audited change of the complaint, in order."""
    async with deps.runtime.db.transaction() as session:
        await visible_complaint(session, complaint_id, principal)
        return await history_of(session, complaint_id)
