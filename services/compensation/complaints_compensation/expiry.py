"""The loops of compensation: voucher expiry (marks vouchers past their expiry and publishes
`compensation.voucher_changed`) and lapsed options (a customer given options whose choice was not
recorded in time gets the first option, granted automatically)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from complaints_common.events.contracts import Offer
from complaints_common.loops import BackgroundLoop, every, periodically
from complaints_common.runtime import Runtime
from complaints_common.telemetry import continued_trace
from complaints_compensation.domain.policy import ComplaintFacts, judge
from complaints_compensation.recording import components
from complaints_compensation.settings import CompensationSettings
from complaints_compensation.store import decisions as store
from complaints_compensation.store import options as option_store
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


async def lapse_due(runtime: Runtime) -> int:
    """Grant the first option of each set whose choose-by time passed, as the automatic decision."""
    book, recorder = components(runtime)
    async with runtime.db.transaction() as session:
        now = datetime.now(UTC)
        rows = await option_store.lapsed(session, now, BATCH)
        for candidate in rows:
            known = await store.known_complaint(session, candidate["client_id"], candidate["complaint_id"])
            assert known is not None  # options are made for a known complaint
            complaint, email, phone = known
            await store.lock_customer(session, complaint.client_id, complaint.customer.customer_id)
            row = await option_store.option_set(
                session, complaint.client_id, complaint.complaint_id, for_update=True
            )
            if row is None or row["status"] != "open":
                continue  # chosen, or lapsed by another replica, meanwhile
            with continued_trace(
                "compensation.options lapse",
                row["trace_context"],
                {"complaints.complaint_id": str(row["complaint_id"])},
            ):
                policy = await book.current(session)
                history = await store.customer_history(
                    session,
                    complaint,
                    policy.abuse,
                    now,
                    (email, phone),
                    ComplaintFacts.of(complaint).order_ref,
                )
                first = row["options"][0]
                offer = Offer.model_validate(first["offer"])
                decision = judge(policy, first["option_id"], offer, complaint, history, now)
                decision_id = await recorder.record_new(session, complaint, decision, "auto", policy)
                await option_store.close(
                    session,
                    complaint.complaint_id,
                    status="lapsed",
                    chosen_option=first["option_id"],
                    closed_by="auto",
                    closed_at=now,
                    decision_id=decision_id,
                )
    return len(rows)


def background(runtime: Runtime) -> list[BackgroundLoop]:
    settings = runtime.settings
    assert isinstance(settings, CompensationSettings)

    async def turn() -> bool:
        return await expire_due(runtime) >= BATCH

    async def loop(stop: asyncio.Event) -> None:
        await periodically(stop, "voucher expiry", turn, every(settings.voucher_expiry_interval_s))

    async def lapse_turn() -> bool:
        return await lapse_due(runtime) >= BATCH

    async def lapse_loop(stop: asyncio.Event) -> None:
        await periodically(stop, "options lapse", lapse_turn, every(settings.options_lapse_interval_s))

    return [loop, lapse_loop]
