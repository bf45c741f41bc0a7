"""Outcomes of call-backs, worklists and their aggregates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Integer, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_followup.domain.outcome import DETRACTOR_NPS, PROMOTER_NPS, Outcome
from complaints_followup.domain.schedule import ACTIONABLE_KINDS, FollowupStatus
from complaints_followup.store.tables import followups


async def record_outcome(session: AsyncConnection, followup_id: UUID, **values: Any) -> None:
    await session.execute(
        followups.update().where(followups.c.id == followup_id).values(status=FollowupStatus.DONE, **values)
    )


async def worklist(
    session: AsyncConnection,
    client_id: str,
    *,
    team: str | None,
    agent_id: str | None,
    overdue_before: datetime | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Fired follow-ups waiting for an agent, oldest first, from after the cursor."""
    statement = select(followups).where(
        followups.c.client_id == client_id,
        followups.c.status == FollowupStatus.FIRED,
        followups.c.kind.in_([kind.value for kind in ACTIONABLE_KINDS]),
    )
    if team is not None:
        statement = statement.where(followups.c.team == team)
    if agent_id is not None:
        statement = statement.where(followups.c.agent_id == agent_id)
    if overdue_before is not None:
        statement = statement.where(followups.c.due_at < overdue_before)
    if after is not None:
        statement = statement.where(tuple_(followups.c.due_at, followups.c.id) > tuple_(*after))
    statement = statement.order_by(followups.c.due_at, followups.c.id).limit(limit)
    return [dict(row._mapping) for row in await session.execute(statement)]


GROUPINGS = {
    "category": func.coalesce(followups.c.category, "unknown"),
    "agent": func.coalesce(followups.c.recorded_by, "unknown"),
    "remedy": func.coalesce(followups.c.remedy, "none"),
    "kind": followups.c.kind,
}


def _count(condition: Any) -> Any:
    return func.count().filter(condition)


async def outcome_summary(
    session: AsyncConnection,
    client_id: str,
    *,
    group_by: Sequence[str],
    period: str,
    since: datetime | None,
    until: datetime | None,
) -> list[dict[str, Any]]:
    """Outcomes counted, CSAT averaged and NPS components counted per group."""
    keys = [
        (name, func.date_trunc(period, followups.c.recorded_at) if name == "period" else GROUPINGS[name])
        for name in group_by
    ]
    statement = select(
        *(column.label(name) for name, column in keys),
        func.count().label("recorded"),
        *(_count(followups.c.outcome == outcome.value).label(outcome.value) for outcome in Outcome),
        func.avg(followups.c.csat).label("csat_average"),
        func.count(followups.c.csat).label("csat_answers"),
        func.count(followups.c.nps).label("nps_answers"),
        _count(followups.c.nps >= PROMOTER_NPS).cast(Integer).label("promoters"),
        _count(followups.c.nps <= DETRACTOR_NPS).cast(Integer).label("detractors"),
    ).where(followups.c.client_id == client_id, followups.c.outcome.is_not(None))
    if since is not None:
        statement = statement.where(followups.c.recorded_at >= since)
    if until is not None:
        statement = statement.where(followups.c.recorded_at < until)
    columns = [column for _, column in keys]
    if columns:
        statement = statement.group_by(*columns).order_by(*columns)
    return [dict(row._mapping) for row in await session.execute(statement)]
