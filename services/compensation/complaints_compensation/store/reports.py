"""Queries for approvers, vouchers and reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_compensation.domain.approvals import WAITING
from complaints_compensation.store.decisions import DecisionRecord
from complaints_compensation.store.tables import decisions


@dataclass(frozen=True, slots=True)
class SpendTotal:
    """Granted decisions of one group (category, rule, agent or month) in one currency."""

    key: str | None
    currency: str
    decisions: int
    value: Decimal
    cost: Decimal


async def waiting(session: AsyncConnection, client_id: str, limit: int, offset: int) -> list[DecisionRecord]:
    query = (
        select(decisions)
        .where(decisions.c.client_id == client_id, decisions.c.status.in_(WAITING))
        .order_by(decisions.c.decided_at, decisions.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [DecisionRecord.of(row) for row in await session.execute(query)]


async def voucher(session: AsyncConnection, client_id: str, code: str) -> DecisionRecord | None:
    """The client's voucher; None alike for "absent" and "another client's"."""
    query = select(decisions).where(
        decisions.c.voucher_code == code.strip().upper(), decisions.c.client_id == client_id
    )
    query = query.with_for_update()
    row = (await session.execute(query)).first()
    return DecisionRecord.of(row) if row else None


async def expired_vouchers(session: AsyncConnection, now: datetime, batch: int) -> list[DecisionRecord]:
    query = (
        select(decisions)
        .where(decisions.c.voucher_status == "active", decisions.c.voucher_expires_at <= now)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    return [DecisionRecord.of(row) for row in await session.execute(query)]


def _period(client_id: str, since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions = [decisions.c.client_id == client_id]
    if since is not None:
        conditions.append(decisions.c.decided_at >= since)
    if until is not None:
        conditions.append(decisions.c.decided_at < until)
    return conditions


async def spend(
    session: AsyncConnection, client_id: str, group_by: str, since: datetime | None, until: datetime | None
) -> list[SpendTotal]:
    key = {
        "category": decisions.c.category,
        "rule": decisions.c.rule_id,
        "agent": decisions.c.granted_by,
        "month": func.to_char(func.date_trunc("month", decisions.c.settled_at), "YYYY-MM"),
    }[group_by].label("key")
    query = (
        select(
            key,
            decisions.c.currency,
            func.count().label("decisions"),
            func.sum(decisions.c.value_amount).label("value"),
            func.sum(decisions.c.cost_amount).label("cost"),
        )
        .where(decisions.c.status == "granted", decisions.c.voucher_status.is_distinct_from("clawed_back"))
        .where(*_period(client_id, since, until))
        .group_by(key, decisions.c.currency)
    )
    rows = await session.execute(query.order_by(key, decisions.c.currency))
    return [SpendTotal(r.key, r.currency, r.decisions, r.value, r.cost) for r in rows]


async def frontline(
    session: AsyncConnection, client_id: str, since: datetime | None, until: datetime | None
) -> tuple[int, int]:
    """Automatic decisions in the period, and how many were granted within frontline authority."""
    query = (
        select(func.count(), func.count().filter(decisions.c.within_frontline))
        .where(decisions.c.proposed_by == "auto")
        .where(*_period(client_id, since, until))
    )
    total, within = (await session.execute(query)).one()
    return int(total), int(within)
