"""The figures a quality manager uses to remove causes: counts, repeat rate, times, missed deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, cast, extract, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from complaints_intake.store.tables import SCHEMA, complaints

c = complaints.c


@dataclass(frozen=True, slots=True)
class Breakdown:
    key: str | None
    count: int
    resolved: int
    repeats: int


@dataclass(frozen=True, slots=True)
class Durations:
    count: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True, slots=True)
class MissedDeadlines:
    total: int
    by_deadline: dict[str, int]


@dataclass(frozen=True, slots=True)
class Week:
    week: datetime
    count: int


@dataclass(frozen=True, slots=True)
class Insights:
    total: int
    repeat_rate: float
    reopened: int
    escalated: int
    abusive_conduct: int
    by_category: list[Breakdown]
    by_product: list[Breakdown]
    by_root_cause: list[Breakdown]
    by_channel: list[Breakdown]
    by_status: list[Breakdown]
    time_to_acknowledge: Durations
    time_to_resolve: Durations
    deadlines_missed: MissedDeadlines
    weekly: list[Week]


def _scope(client_id: str, filed_from: datetime | None, filed_to: datetime | None) -> ColumnElement[bool]:
    conditions = [c.client_id == client_id]
    if filed_from is not None:
        conditions.append(c.filed_at >= filed_from)
    if filed_to is not None:
        conditions.append(c.filed_at < filed_to)
    return and_(*conditions)


async def breakdown(session: AsyncConnection, where: ColumnElement[bool], column: Any) -> list[Breakdown]:
    """Count, resolved and repeats per value of `column`, largest first."""
    rows = await session.execute(
        select(
            column.label("key"),
            func.count().label("count"),
            func.count().filter(c.resolved_at.is_not(None)).label("resolved"),
            func.count().filter(c.repeat_of.is_not(None)).label("repeats"),
        )
        .where(where)
        .group_by(column)
        .order_by(func.count().desc(), column)
        .limit(50)
    )
    return [Breakdown(key, count, resolved, repeats) for key, count, resolved, repeats in rows]


def _seconds(start: Any, end: Any) -> Any:
    return cast(extract("epoch", end - start), Float)


async def durations(session: AsyncConnection, where: ColumnElement[bool], milestone: Any) -> Durations:
    seconds = _seconds(c.filed_at, milestone)
    row = (
        await session.execute(
            select(
                func.count(milestone),
                func.percentile_cont(0.5).within_group(seconds),
                func.percentile_cont(0.9).within_group(seconds),
            ).where(where, milestone.is_not(None))
        )
    ).one()
    return Durations(count=row[0], median_seconds=row[1], p90_seconds=row[2])


async def weekly(session: AsyncConnection, where: ColumnElement[bool]) -> list[Week]:
    week = func.date_trunc("week", c.filed_at).label("week")
    rows = await session.execute(
        select(week, func.count().label("count")).where(where).group_by(week).order_by(week).limit(104)
    )
    return [Week(week=week, count=count) for week, count in rows]


# Deadlines live in a JSONB array on the complaint; a deadline is missed when it counts as a breach
# and was met after its due time, or is unmet and already past it.
MISSED_SQL = text(
    f"""
    SELECT d->>'name' AS name, count(*) AS missed
    FROM "{SCHEMA}".complaints AS c, jsonb_array_elements(c.deadlines) AS d
    WHERE c.client_id = :client_id
      AND (CAST(:filed_from AS timestamptz) IS NULL OR c.filed_at >= :filed_from)
      AND (CAST(:filed_to AS timestamptz) IS NULL OR c.filed_at < :filed_to)
      AND coalesce((d->>'breach')::boolean, true)
      AND d->>'due_at' IS NOT NULL
      AND coalesce((d->>'met_at')::timestamptz, :now) > (d->>'due_at')::timestamptz
    GROUP BY 1 ORDER BY 2 DESC
    """  # noqa: S608 - the schema name is a constant of this module, never input
)


async def missed_deadlines(
    session: AsyncConnection,
    client_id: str,
    filed_from: datetime | None,
    filed_to: datetime | None,
    now: datetime,
) -> dict[str, int]:
    rows = await session.execute(
        MISSED_SQL,
        {"client_id": client_id, "filed_from": filed_from, "filed_to": filed_to, "now": now},
    )
    return {r.name: int(r.missed) for r in rows}


async def insights(
    session: AsyncConnection,
    client_id: str,
    filed_from: datetime | None,
    filed_to: datetime | None,
    now: datetime,
) -> Insights:
    where = _scope(client_id, filed_from, filed_to)
    totals = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(c.repeat_of.is_not(None)),
                func.count().filter(c.reopen_count > 0),
                func.count().filter(c.escalation_level > 0),
                func.count().filter(c.abusive_conduct_at.is_not(None)),
            ).where(where)
        )
    ).one()
    total = int(totals[0])
    missed = await missed_deadlines(session, client_id, filed_from, filed_to, now)
    return Insights(
        total=total,
        repeat_rate=(totals[1] / total) if total else 0.0,
        reopened=int(totals[2]),
        escalated=int(totals[3]),
        abusive_conduct=int(totals[4]),
        by_category=await breakdown(session, where, c.category),
        by_product=await breakdown(session, where, c.product),
        by_root_cause=await breakdown(session, where, c.root_cause),
        by_channel=await breakdown(session, where, c.channel),
        by_status=await breakdown(session, where, c.status),
        time_to_acknowledge=await durations(session, where, c.acknowledged_at),
        time_to_resolve=await durations(session, where, c.resolved_at),
        deadlines_missed=MissedDeadlines(total=sum(missed.values()), by_deadline=missed),
        weekly=await weekly(session, where),
    )
