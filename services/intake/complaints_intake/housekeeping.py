"""Background work of the intake worker: forgetting idempotency keys past their retention, purging
complaint records past their profile's retention period, and warning (at start-up, then daily)
when a business-day calendar's listed holidays run out soon. Published outbox rows past their
window are dropped by the relay (`OUTBOX_RETENTION_HOURS`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from complaints_common.loops import BackgroundLoop, every, periodically
from complaints_common.runtime import Runtime
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.domain.deadlines import shipped_rules
from complaints_intake.store.erasure import PURGE_BATCH, purge_received_before
from complaints_intake.store.idempotency import purge_before

log = logging.getLogger(__name__)
CALENDAR_CHECK_INTERVAL_S = 24 * 3600.0


async def purge_records_once(runtime: Runtime, now: datetime) -> int:
    """One batch per profile of complaint records past retention; how many were purged."""
    purged = 0
    for name, profile in shipped_rules().profiles.items():
        async with runtime.db.transaction() as session:
            purged += await purge_received_before(session, name, profile.retained_after(now))
    return purged


async def check_calendars() -> bool:
    """Past a calendar's last covered year, business days would silently skip no holiday at all."""
    rules = shipped_rules()
    for name in rules.expiring_calendars(datetime.now(UTC).date()):
        log.warning(
            "business-day calendar runs out within 90 days: add the next year's holidays",
            extra={"calendar": name, "covered_until": rules.calendars[name].covered_until.isoformat()},
        )
    return False


def housekeeping(deps: IntakeDependencies) -> list[BackgroundLoop]:
    runtime, settings = deps.runtime, deps.settings

    async def purge() -> bool:
        before = datetime.now(UTC) - timedelta(hours=settings.idempotency_key_retention_hours)
        async with runtime.db.transaction() as session:
            purged = await purge_before(session, before)
        if purged:
            log.info("idempotency keys purged", extra={"count": purged})
        return False  # one statement purges everything due

    async def purge_records() -> bool:
        purged = await purge_records_once(runtime, datetime.now(UTC))
        if purged:
            log.info("complaint records past retention purged", extra={"count": purged})
        return purged >= PURGE_BATCH  # a full batch: there may be more, go on without waiting

    async def purge_idempotency_keys(stop: asyncio.Event) -> None:
        await periodically(stop, "idempotency key purge", purge, every(settings.housekeeping_interval_s))

    async def purge_expired_records(stop: asyncio.Event) -> None:
        await periodically(stop, "retention purge", purge_records, every(settings.housekeeping_interval_s))

    async def calendar_coverage(stop: asyncio.Event) -> None:
        await periodically(stop, "calendar coverage check", check_calendars, every(CALENDAR_CHECK_INTERVAL_S))

    return [purge_idempotency_keys, purge_expired_records, calendar_coverage]
