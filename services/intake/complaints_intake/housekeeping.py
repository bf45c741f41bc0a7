"""Background work of the intake worker: forgetting idempotency keys past their retention."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from complaints_common.loops import BackgroundLoop, every, periodically
from complaints_common.runtime import Runtime
from complaints_intake.settings import IntakeSettings
from complaints_intake.store.idempotency import purge_before

log = logging.getLogger(__name__)


def housekeeping(runtime: Runtime) -> list[BackgroundLoop]:
    settings = runtime.settings
    assert isinstance(settings, IntakeSettings)

    async def purge() -> bool:
        before = datetime.now(UTC) - timedelta(hours=settings.idempotency_key_retention_hours)
        async with runtime.db.transaction() as session:
            purged = await purge_before(session, before)
        if purged:
            log.info("idempotency keys purged", extra={"count": purged})
        return False  # one statement purges everything due

    async def purge_idempotency_keys(stop: asyncio.Event) -> None:
        await periodically(stop, "idempotency key purge", purge, every(settings.housekeeping_interval_s))

    return [purge_idempotency_keys]
