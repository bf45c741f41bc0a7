"""Erasure and retention. Erasure pseudonymises intake's personal data of one complaint in place:
names, contacts and free text are replaced; ids, times, statuses, outcomes and amounts stay, so the
regulatory record and the complaints return are unchanged. Every statement overwrites: running it
twice is harmless. Retention purges the record itself once its period has passed."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, literal_column, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import ERASED
from complaints_intake.store.tables import (
    complaint_history,
    complaints,
    erasures,
    granted_compensation,
    letters,
)

PURGE_BATCH = 500

# The customer keeps the CRM's id, language, region and tier: nothing that names or reaches them.
_FORGET = "- 'name' - 'email' - 'phone' || '{\"preferred_channel\": \"none\"}'::jsonb"


async def record_erasure(
    session: AsyncConnection,
    erasure_id: UUID,
    client_id: str,
    customer_id: str,
    actor: str,
    at: datetime,
) -> list[UUID]:
    """The audit row of the request, and the complaints it covers (the client's, of that customer)."""
    ids = list(
        (
            await session.execute(
                select(complaints.c.id)
                .where(complaints.c.client_id == client_id, complaints.c.customer_id == customer_id)
                .order_by(complaints.c.filed_at)
            )
        ).scalars()
    )
    await session.execute(
        erasures.insert().values(
            id=erasure_id,
            client_id=client_id,
            customer_id=customer_id,
            complaint_ids=ids,
            requested_by=actor,
            requested_at=at,
        )
    )
    return ids


async def pseudonymise(session: AsyncConnection, complaint_id: UUID) -> None:
    """Intake's tables, the idempotency replays and the outbox of one complaint."""
    await session.execute(
        update(complaints)
        .where(complaints.c.id == complaint_id)
        .values(
            customer=literal_column(f"customer {_FORGET}"),
            description=ERASED,
        )
    )
    await session.execute(
        update(complaint_history)
        .where(complaint_history.c.complaint_id == complaint_id, complaint_history.c.note.is_not(None))
        .values(note=ERASED)
    )
    await session.execute(
        update(letters)
        .where(letters.c.complaint_id == complaint_id, letters.c.explanation.is_not(None))
        .values(explanation=ERASED)
    )
    params = {"id": str(complaint_id), "erased": ERASED}
    # Stored responses replayed for a retried POST carry the whole complaint.
    await session.execute(text(_SCRUB_REPLAYS), params)
    # Events still in the outbox (sent or not): complaint.created's contact, a letter's words.
    await session.execute(text(_SCRUB_OUTBOX_CONTACT), params)
    await session.execute(text(_SCRUB_OUTBOX_EXPLANATION), params)
    # A clawback's reason on the journey is someone's free text.
    await session.execute(text(_SCRUB_JOURNEY_REASON), params)


_SCRUB_JOURNEY_REASON = """
    UPDATE intake.complaints
    SET journey = jsonb_set(journey, '{compensation,voucher_reason}', to_jsonb(CAST(:erased AS text)))
    WHERE id = CAST(:id AS uuid) AND journey->'compensation'->>'voucher_reason' IS NOT NULL
"""
_SCRUB_REPLAYS = """
    UPDATE intake.idempotency_keys
    SET response = jsonb_set(
        jsonb_set(response, '{customer}', (response->'customer') - 'name' - 'email' - 'phone'
            || '{"preferred_channel": "none"}'::jsonb),
        '{description}', to_jsonb(CAST(:erased AS text)))
    WHERE response->>'id' = :id AND response ? 'customer'
"""
_SCRUB_OUTBOX_CONTACT = """
    UPDATE intake.outbox
    SET payload = jsonb_set(payload, '{customer}', (payload->'customer') - 'name' - 'email' - 'phone'
        || '{"preferred_channel": "none"}'::jsonb)
    WHERE aggregateid = :id AND payload ? 'customer'
"""
_SCRUB_OUTBOX_EXPLANATION = """
    UPDATE intake.outbox SET payload = jsonb_set(payload, '{explanation}', 'null'::jsonb)
    WHERE aggregateid = :id AND payload->>'explanation' IS NOT NULL
"""


async def purge_received_before(session: AsyncConnection, profile: str, before: datetime) -> int:
    """Delete up to PURGE_BATCH complaints of `profile` received before `before`, with their history,
    letters and granted compensation; how many complaints went."""
    ids = list(
        (
            await session.execute(
                select(complaints.c.id)
                .where(complaints.c.deadline_profile == profile, complaints.c.filed_at < before)
                .limit(PURGE_BATCH)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not ids:
        return 0
    for table in (complaint_history, letters, granted_compensation):
        await session.execute(delete(table).where(table.c.complaint_id.in_(ids)))
    await session.execute(delete(complaints).where(complaints.c.id.in_(ids)))
    return len(ids)
