"""Reading and writing what regulated handling adds: each client's deadline settings, the letters
sent, and the compensation granted (from compensation's events)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.db import driver
from complaints_common.events.contracts import CompensationGrantedV1, ComplaintLetterIssuedV1
from complaints_intake.domain.deadlines import Selection
from complaints_intake.domain.journey import Journey
from complaints_intake.store.tables import complaints, deadline_settings, granted_compensation, letters

TENANT_WIDE = ""  # the category of a client's tenant-wide setting

_SETTINGS_OF = select(deadline_settings).where(
    deadline_settings.c.client_id == bindparam("client_id"),
    deadline_settings.c.category.in_([TENANT_WIDE, bindparam("category")]),
)


async def selections_for(
    session: AsyncConnection, client_id: str, category: str
) -> tuple[Selection, Selection]:
    """The client's tenant-wide selection and the one for `category` (empty where none is set)."""
    rows = await session.execute(_SETTINGS_OF, {"client_id": client_id, "category": category.casefold()})
    found = {r.category: Selection(r.profile, r.calendar) for r in rows}
    return found.get(TENANT_WIDE, Selection()), found.get(category.casefold(), Selection())


async def settings_of(session: AsyncConnection, client_id: str) -> dict[str, Selection]:
    """Every setting of the client, by category ('' for tenant-wide)."""
    rows = await session.execute(
        select(deadline_settings)
        .where(deadline_settings.c.client_id == client_id)
        .order_by(deadline_settings.c.category)
    )
    return {r.category: Selection(r.profile, r.calendar) for r in rows}


async def replace_settings(
    session: AsyncConnection, client_id: str, settings: dict[str, Selection], actor: str, at: datetime
) -> None:
    await session.execute(delete(deadline_settings).where(deadline_settings.c.client_id == client_id))
    rows = [
        {
            "client_id": client_id,
            "category": category.casefold(),
            "profile": s.profile,
            "calendar": s.calendar,
            "updated_by": actor,
            "updated_at": at,
        }
        for category, s in settings.items()
    ]
    if rows:
        await session.execute(insert(deadline_settings), rows)


async def insert_letter(session: AsyncConnection, letter: ComplaintLetterIssuedV1) -> None:
    redress = letter.redress
    await session.execute(
        insert(letters).values(
            id=letter.letter_id,
            complaint_id=letter.complaint_id,
            kind=letter.kind,
            regime=letter.regime,
            language=letter.language,
            outcome=letter.outcome,
            redress_amount=redress.amount if redress else None,
            redress_currency=redress.currency if redress else None,
            explanation=letter.explanation,
            required_content=letter.required_content,
            respond_by=letter.respond_by,
            issued_by=letter.issued_by,
            issued_at=letter.issued_at,
        )
    )


# Straight to the driver, with the journey's step in the same statement: every complaint granted
# compensation runs it.
_RECORD_GRANT = f"""
WITH granted AS (
    INSERT INTO {granted_compensation.fullname}
        (decision_id, complaint_id, kind, amount, currency, granted_at)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (decision_id) DO NOTHING
)
UPDATE {complaints.fullname} SET journey = $7 WHERE id = $2
"""  # noqa: S608 - table names from code


async def record_grant(session: AsyncConnection, data: CompensationGrantedV1, journey: Journey) -> None:
    """The grant, with the complaint's `journey` showing it. Idempotent per decision: a redelivered
    grant is counted once."""
    await (await driver(session)).execute(
        _RECORD_GRANT,
        data.decision_id,
        data.complaint_id,
        data.offer.kind,
        data.offer.value.amount,
        data.offer.value.currency,
        data.granted_at,
        journey.model_dump_json(),
    )
