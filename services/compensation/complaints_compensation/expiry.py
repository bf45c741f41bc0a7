"""The voucher-expiry loop: marks vouchers past their expiry and publishes `compensation.voucher_changed`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from complaints_common.loops import BackgroundLoop, every, periodically
from complaints_common.runtime import Runtime
from complaints_common.telemetry import continued_trace
from complaints_compensation.recording import components
from complaints_compensation.settings import CompensationSettings
from complaints_compensation.store import decisions as store
from complaints_compensation.store import reports

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

    async def turn() -> bool:
        return await expire_due(runtime) >= BATCH

    async def loop(stop: asyncio.Event) -> None:
        await periodically(stop, "voucher expiry", turn, every(settings.voucher_expiry_interval_s))

    return [loop]
