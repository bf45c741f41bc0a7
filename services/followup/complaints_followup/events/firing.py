"""The timer loop: fires due timers as `followup.due`, exactly once, oldest first, in bounded batches.

Each poll claims at most `timer_batch_size` due timers (FOR UPDATE SKIP LOCKED, oldest due first),
applies the survey rules to the satisfaction checks among them, and writes one `followup.due` per
fired timer to the outbox in the same transaction. A full batch polls again at once, so timers
missed during downtime are caught up in due order without one giant transaction.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime, timedelta
from typing import Any, cast

from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.contracts import FollowupDueV1
from complaints_common.events.envelope import FOLLOWUP_DUE_V1, Event
from complaints_common.loops import BackgroundLoop, every, periodically
from complaints_common.runtime import Runtime
from complaints_common.telemetry import continued_trace
from complaints_followup import metrics
from complaints_followup.domain.schedule import (
    CancelReason,
    Clock,
    FollowupKind,
    FollowupStatus,
    system_clock,
)
from complaints_followup.settings import FollowupSettings
from complaints_followup.store import complaints as known
from complaints_followup.store.tables import followups
from complaints_followup.store.timers import claim_due, lock_customers, recently_surveyed, unclaim

SOURCE = "/complaints/followup"


async def fire_due_timers(runtime: Runtime, clock: Clock, limit: int) -> int:
    """Fire one batch of due timers; returns how many were claimed (fired, postponed or suppressed)."""
    settings = cast(FollowupSettings, runtime.settings)
    now = clock()
    async with runtime.db.transaction() as session:
        due = await claim_due(session, now, limit)
        to_fire = await _govern_surveys(session, settings, due, now)
        await _write_events(runtime, session, to_fire, now)
    for row in to_fire:
        metrics.TIMERS_FIRED.labels(row["kind"]).inc()
        metrics.TIMER_LATENESS.observe(max(0.0, (now - row["due_at"]).total_seconds()))
    return len(due)


async def _govern_surveys(
    session: AsyncConnection, settings: FollowupSettings, due: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """No survey while a compensation decision is pending (postponed), and at most one survey per
    customer per period (later ones cancelled). Other kinds pass untouched."""
    checks = [row for row in due if row["kind"] == FollowupKind.SATISFACTION_CHECK]
    if not checks:
        return due
    customers = [(row["client_id"], row["customer_id"]) for row in checks]
    await lock_customers(session, customers)
    pending = await known.with_pending_decisions(session, (row["complaint_id"] for row in checks))
    since = now - timedelta(seconds=settings.survey_period_s)
    surveyed = await recently_surveyed(session, customers, {row["complaint_id"] for row in checks}, since)
    postponed, suppressed, surveyed_now = [], [], set()
    for row in checks:
        customer = (row["client_id"], row["customer_id"])
        if row["complaint_id"] in pending:
            postponed.append(row["id"])
        elif customer in surveyed or (
            row["attempt"] == 1 and settings.survey_period_s > 0 and customer in surveyed_now
        ):
            suppressed.append(row["id"])
        elif row["attempt"] == 1:
            surveyed_now.add(customer)
    recheck_at = now + timedelta(seconds=settings.pending_decision_recheck_s)
    await unclaim(session, postponed, status=FollowupStatus.SCHEDULED, due_at=recheck_at)
    await unclaim(
        session,
        suppressed,
        status=FollowupStatus.CANCELLED,
        cancel_reason=CancelReason.CUSTOMER_SURVEYED_RECENTLY,
    )
    held = set(postponed) | set(suppressed)
    return [row for row in due if row["id"] not in held]


async def _write_events(
    runtime: Runtime, session: AsyncConnection, rows: list[dict[str, Any]], now: datetime
) -> None:
    """One outbox insert for the whole batch; each row's event is built inside the trace that
    scheduled its timer, so a complaint's journey stays one trace even days later."""
    outbox_rows = []
    for row in rows:
        with continued_trace(
            "followup.due fire",
            row["trace_context"],
            {"complaints.complaint_id": str(row["complaint_id"]), "complaints.kind": row["kind"]},
        ):
            due = FollowupDueV1(
                complaint_id=row["complaint_id"],
                client_id=row["client_id"] or None,
                followup_id=row["id"],
                customer_id=row["customer_id"],
                kind=row["kind"],
                due_at=row["due_at"],
                fired_at=now,
                attempt=row["attempt"],
                deadline_name=row["deadline_name"],
            )
            outbox_rows.append(runtime.outbox.row(Event(FOLLOWUP_DUE_V1, due, SOURCE)))
    await runtime.outbox.insert(session, outbox_rows)


CENSUS_INTERVAL_S = 10.0


async def count_timers(runtime: Runtime, now: datetime) -> None:
    """Refresh the scheduled and overdue gauges (cheap: the partial index on scheduled timers)."""
    async with runtime.db.transaction() as session:
        rows = await session.execute(
            select(
                followups.c.kind,
                func.count(),
                func.count().filter(followups.c.due_at < now),
            )
            .where(followups.c.status == FollowupStatus.SCHEDULED)
            .group_by(followups.c.kind)
        )
        for kind in FollowupKind:
            metrics.SCHEDULED.labels(kind).set(0)
            metrics.OVERDUE.labels(kind).set(0)
        for kind, scheduled, overdue in rows:
            metrics.SCHEDULED.labels(kind).set(scheduled)
            metrics.OVERDUE.labels(kind).set(overdue)


def timer_loop(runtime: Runtime, clock: Clock = system_clock) -> BackgroundLoop:
    settings = cast(FollowupSettings, runtime.settings)

    last_census = -math.inf

    async def turn() -> bool:
        nonlocal last_census
        with suppress_instrumentation():  # polling is not part of any journey
            claimed = await fire_due_timers(runtime, clock, settings.timer_batch_size)
            if time.monotonic() - last_census >= CENSUS_INTERVAL_S:
                await count_timers(runtime, clock())
                last_census = time.monotonic()
        return claimed >= settings.timer_batch_size

    async def run(stop: asyncio.Event) -> None:
        await periodically(stop, "timers", turn, every(settings.timer_poll_interval_s))

    return run
