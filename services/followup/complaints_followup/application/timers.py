"""Timer firing: due timers become `followup.due`, exactly once, oldest first, in bounded batches.

Each batch claims at most `limit` due timers (FOR UPDATE SKIP LOCKED, oldest due first), applies the
survey rules to the satisfaction checks among them, and writes one `followup.due` per fired timer to
the outbox in the same transaction (complaints_followup.store.timers says why that is exactly once).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.messaging import Outbox
from complaints_common.telemetry import continued_trace
from complaints_followup import metrics
from complaints_followup.dependencies import FollowupDependencies
from complaints_followup.domain.schedule import CancelReason, FollowupKind
from complaints_followup.events.published import followup_due
from complaints_followup.settings import FollowupSettings
from complaints_followup.store import timers
from complaints_followup.store.timers import Followup


async def fire_due_timers(deps: FollowupDependencies, limit: int) -> int:
    """Fire one batch of due timers; returns how many were claimed (fired, postponed or suppressed)."""
    now = deps.clock()
    async with deps.runtime.db.transaction() as session:
        due = await timers.claim_due(session, now, limit)
        to_fire = await _govern_surveys(session, deps.settings, due, now)
        await _write_events(deps.runtime.outbox, session, to_fire, now)
    for timer in to_fire:
        metrics.FIRED_OF_KIND[timer.kind].inc()
        metrics.TIMER_LATENESS.observe(max(0.0, (now - timer.due_at).total_seconds()))
    return len(due)


async def _govern_surveys(
    session: AsyncConnection, settings: FollowupSettings, due: list[Followup], now: datetime
) -> list[Followup]:
    """No survey while a compensation decision is pending (postponed), and at most one survey per
    customer per period (later ones cancelled). Other kinds pass untouched."""
    checks = [timer for timer in due if timer.kind == FollowupKind.SATISFACTION_CHECK]
    if not checks:
        return due
    customers = [(timer.client_id, timer.customer_id) for timer in checks]
    await timers.lock_customers(session, customers)
    since = now - timedelta(seconds=settings.survey_period_s)
    facts = await timers.survey_facts(session, {timer.complaint_id for timer in checks}, customers, since)
    pending, surveyed = facts.pending, facts.surveyed
    postponed, suppressed, surveyed_now = [], [], set()
    for timer in checks:
        customer = (timer.client_id, timer.customer_id)
        if timer.complaint_id in pending:
            postponed.append(timer.id)
        elif customer in surveyed or (
            timer.attempt == 1 and settings.survey_period_s > 0 and customer in surveyed_now
        ):
            suppressed.append(timer.id)
        elif timer.attempt == 1:
            surveyed_now.add(customer)
    recheck_at = now + timedelta(seconds=settings.pending_decision_recheck_s)
    await timers.postpone(session, postponed, recheck_at)
    await timers.withdraw(session, suppressed, CancelReason.CUSTOMER_SURVEYED_RECENTLY)
    held = set(postponed) | set(suppressed)
    return [timer for timer in due if timer.id not in held]


async def _write_events(outbox: Outbox, session: AsyncConnection, due: list[Followup], now: datetime) -> None:
    """One outbox insert for the whole batch; each timer's event is built inside the trace that
    scheduled it, so a complaint's journey stays one trace even days later."""
    outbox_rows = []
    for timer in due:
        with continued_trace(
            "followup.due fire",
            timer.trace_context,
            {"complaints.complaint_id": str(timer.complaint_id), "complaints.kind": timer.kind},
        ):
            outbox_rows.append(outbox.row(followup_due(timer, now)))
    await outbox.insert(session, outbox_rows)


async def count_timers(deps: FollowupDependencies, now: datetime) -> None:
    """Refresh the scheduled and overdue gauges."""
    async with deps.runtime.db.transaction() as session:
        counts = await timers.census(session, now)
    for kind in FollowupKind:
        metrics.SCHEDULED_OF_KIND[kind].set(0)
        metrics.OVERDUE_OF_KIND[kind].set(0)
    for count in counts:
        metrics.SCHEDULED_OF_KIND[count.kind].set(count.scheduled)
        metrics.OVERDUE_OF_KIND[count.kind].set(count.overdue)
