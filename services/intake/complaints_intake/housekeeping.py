"""Background work of the intake worker: forgetting idempotency keys past their retention."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from complaints_common.loops import BackgroundLoop, sleep_or_stop
from complaints_common.runtime import Runtime
from complaints_intake.settings import IntakeSettings
from complaints_intake.store.idempotency import purge_before

log = logging.getLogger(__name__)


def housekeeping(runtime: Runtime) -> list[BackgroundLoop]:
    settings = runtime.settings
    assert isinstance(settings, IntakeSettings)

    async def purge_idempotency_keys(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                before = datetime.now(UTC) - timedelta(hours=settings.idempotency_key_retention_hours)
                async with runtime.db.transaction() as session:
                    purged = await purge_before(session, before)
                if purged:
                    log.info("idempotency keys purged", extra={"count": purged})
            except Exception as exc:  # the next round tries again; nothing depends on it promptly
                log.warning("idempotency key purge failed", extra={"error": type(exc).__name__})
            await sleep_or_stop(stop, settings.housekeeping_interval_s)

    return [purge_idempotency_keys]
