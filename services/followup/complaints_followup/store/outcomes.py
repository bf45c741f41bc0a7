"""Outcomes of call-backs, worklists and their aggregates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Integer, RowMapping, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_followup.domain.outcome import DETRACTOR_NPS, PROMOTER_NPS, Outcome, net_promoter_score
from complaints_followup.domain.schedule import ACTIONABLE_KINDS, FollowupStatus
from complaints_followup.store.tables import followups
from complaints_followup.store.timers import Followup


@dataclass(frozen=True, slots=True)
class OutcomeFields:
    """What a recorded call-back writes on its follow-up. The complaint's category and remedy are
    copied beside it, so that the results are grouped by them without a join."""

    outcome: Outcome
    reached: bool
    satisfied: bool | None
    csat: int | None
    nps: int | None
    comment: str | None
    recorded_by: str
    recorded_at: datetime
    category: str | None
    remedy: str | None


@dataclass(frozen=True, slots=True)
class OutcomeQuery:
    """Which outcomes to count (recorded in [since, until)) and how to group them."""

    group_by: Sequence[str]
    period: str  # for the group "period": day, week or month
    since: datetime | None
    until: datetime | None


@dataclass(frozen=True, slots=True)
class OutcomeTally:
    """The outcomes of one group: `key` names the group (a period by the date it starts); the CSAT
    average is to two places."""

    key: dict[str, str]
    recorded: int
    satisfied: int
    dissatisfied: int
    not_reached: int
    unreachable: int
    csat_average: float | None
    csat_answers: int
    nps_answers: int
    promoters: int
    detractors: int

    @property
    def nps(self) -> float | None:
        return net_promoter_score(self.promoters, self.detractors, self.nps_answers)


async def mark_done(session: AsyncConnection, followup_id: UUID, fields: OutcomeFields) -> Followup:
    """The follow-up is done, with its outcome."""
    statement = (
        followups.update()
        .where(followups.c.id == followup_id)
        .values(status=FollowupStatus.DONE, **asdict(fields))
        .returning(*followups.c)
    )
    return Followup.of((await session.execute(statement)).one())


async def worklist(
    session: AsyncConnection,
    client_id: str,
    *,
    team: str | None,
    agent_id: str | None,
    overdue_before: datetime | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[Followup]:
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
    return [Followup.of(row) for row in await session.execute(statement)]


GROUPINGS = {
    "category": func.coalesce(followups.c.category, "unknown"),
    "agent": func.coalesce(followups.c.recorded_by, "unknown"),
    "remedy": func.coalesce(followups.c.remedy, "none"),
    "kind": followups.c.kind,
}


def _count(condition: Any) -> Any:
    return func.count().filter(condition)


async def outcome_summary(
    session: AsyncConnection, client_id: str, query: OutcomeQuery
) -> list[OutcomeTally]:
    """Outcomes counted, CSAT averaged and NPS components counted per group."""
    keys = [
        (
            name,
            func.date_trunc(query.period, followups.c.recorded_at) if name == "period" else GROUPINGS[name],
        )
        for name in query.group_by
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
    if query.since is not None:
        statement = statement.where(followups.c.recorded_at >= query.since)
    if query.until is not None:
        statement = statement.where(followups.c.recorded_at < query.until)
    columns = [column for _, column in keys]
    if columns:
        statement = statement.group_by(*columns).order_by(*columns)
    return [_tally(row._mapping, query.group_by) for row in await session.execute(statement)]


def _tally(values: RowMapping, group_by: Sequence[str]) -> OutcomeTally:
    key = {
        name: values[name].date().isoformat() if isinstance(values[name], datetime) else str(values[name])
        for name in group_by
    }
    average = values["csat_average"]
    return OutcomeTally(
        key=key,
        recorded=values["recorded"],
        satisfied=values["satisfied"],
        dissatisfied=values["dissatisfied"],
        not_reached=values["not_reached"],
        unreachable=values["unreachable"],
        csat_average=round(float(average), 2) if average is not None else None,
        csat_answers=values["csat_answers"],
        nps_answers=values["nps_answers"],
        promoters=values["promoters"],
        detractors=values["detractors"],
    )
