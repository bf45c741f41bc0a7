"""The voucher-expiry loop: marks vouchers past their expiry and publishes `compensation.voucher_changed`."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from complaints_common.loops import BackgroundLoop, sleep_or_stop
from complaints_common.runtime import Runtime
from complaints_common.telemetry import continued_trace
from complaints_compensation.recording import components
from complaints_compensation.settings import CompensationSettings
from complaints_compensation.store import decisions as store
from complaints_compensation.store import reports

log = logging.getLogger(__name__)
BATCH = 200


async def expire_due(runtime: Runtime) -> int:
    """Expire one batch; replicas skip each other's locked rows."""
    _, recorder = components(runtime)
    async with runtime.db.transaction() as session:
        rows = await reports.expired_vouchers(session, datetime.now(UTC), BATCH)
        for row in rows:
            with continued_trace(
                "compensation.voucher expire",
                row["trace_context"],
                {"complaints.complaint_id": str(row["complaint_id"])},
            ):
                await store.update_decision(
                    session, row["id"], voucher_status="expired", voucher_changed_at=datetime.now(UTC)
                )
                await recorder.publish_voucher(session, row, "expired", "system", None)
    return len(rows)


def background(runtime: Runtime) -> list[BackgroundLoop]:
    settings = runtime.settings
    assert isinstance(settings, CompensationSettings)

    async def loop(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await expire_due(runtime)
            except Exception as exc:  # the next round retries; the database may be restarting
                log.warning("voucher expiry failed", extra={"error": type(exc).__name__})
            await sleep_or_stop(stop, settings.voucher_expiry_interval_s)

    return [loop]
