"""What follow-up does with the events it consumes, and the timer loop that produces `followup.due`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any, cast

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy.ext.asyncio import AsyncSession

from complaints_common.consumer import Subscription
from complaints_common.events.contracts import CompensationGrantedV1, ComplaintCreatedV1, FollowupDueV1
from complaints_common.events.envelope import (
    COMPENSATION_GRANTED_V1,
    COMPLAINT_CREATED_V1,
    FOLLOWUP_DUE_V1,
    Event,
)
from complaints_common.runtime import BackgroundLoop, Runtime
from complaints_followup.domain.schedule import Clock, satisfaction_check_due, system_clock
from complaints_followup.settings import FollowupSettings
from complaints_followup.store.timers import claim_due, remember_complaint, schedule

SOURCE = "/complaints/followup"
SATISFACTION_CHECK = "satisfaction_check"
log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


def subscriptions(runtime: Runtime) -> list[Subscription]:
    settings = cast(FollowupSettings, runtime.settings)
    delay = timedelta(seconds=settings.satisfaction_delay_s)

    async def on_complaint_created(session: AsyncSession, event: Event[Any]) -> None:
        complaint: ComplaintCreatedV1 = event.data
        await remember_complaint(
            session, complaint.complaint_id, complaint.customer.customer_id, complaint.filed_at
        )

    async def on_compensation_granted(session: AsyncSession, event: Event[Any]) -> None:
        grant: CompensationGrantedV1 = event.data
        await schedule(
            session,
            complaint_id=grant.complaint_id,
            customer_id=grant.customer_id,
            kind=SATISFACTION_CHECK,
            due_at=satisfaction_check_due(grant.granted_at, delay),
        )

    return [
        Subscription(COMPLAINT_CREATED_V1, on_complaint_created),
        Subscription(COMPENSATION_GRANTED_V1, on_compensation_granted),
    ]


async def fire_due_timers(runtime: Runtime, now_: Clock, limit: int) -> int:
    """Fire one batch of due timers; returns how many fired."""
    now = now_()
    async with runtime.db.transaction() as session:
        due = await claim_due(session, now, limit)
        for row in due:
            await _fire(runtime, session, row, now)
    return len(due)


async def _fire(runtime: Runtime, session: AsyncSession, row: dict[str, Any], now: datetime) -> None:
    """Write the timer's event inside the trace that scheduled it, so the journey stays one trace."""
    with tracer.start_as_current_span(
        "followup.due fire",
        context=propagate.extract(row["trace_context"]),
        attributes={"complaints.complaint_id": str(row["complaint_id"]), "complaints.kind": row["kind"]},
    ):
        due = FollowupDueV1(
            complaint_id=row["complaint_id"],
            followup_id=row["id"],
            customer_id=row["customer_id"],
            kind=row["kind"],
            due_at=row["due_at"],
            fired_at=now,
            attempt=row["attempt"],
        )
        await runtime.outbox.add(session, Event(FOLLOWUP_DUE_V1, due, SOURCE))


def timer_loop(runtime: Runtime, clock: Clock = system_clock) -> BackgroundLoop:
    settings = cast(FollowupSettings, runtime.settings)

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                with suppress_instrumentation():  # polling is not part of any journey
                    fired = await fire_due_timers(runtime, clock, settings.timer_batch_size)
            except Exception as exc:  # the database may be restarting: keep the loop alive
                log.warning("timer poll failed", extra={"error": type(exc).__name__})
                fired = 0
            if fired < settings.timer_batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), settings.timer_poll_interval_s)

    return run
