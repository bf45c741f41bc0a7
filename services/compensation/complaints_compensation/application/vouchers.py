"""Vouchers: redeemed once before their expiry, clawed back when a grant is found abusive, and
marked expired by the expiry loop. Who changed one, and why, stays on the decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.api import Principal
from complaints_common.events.contracts import VoucherChange
from complaints_common.problems import Conflict, or_not_found
from complaints_common.telemetry import continued_trace
from complaints_compensation.application.decisions import locked_decision
from complaints_compensation.dependencies import CompensationDependencies
from complaints_compensation.store import decisions as store
from complaints_compensation.store import reports
from complaints_compensation.store.decisions import DecisionRecord


async def redeem_voucher(
    deps: CompensationDependencies, caller: Principal, code: str, reason: str | None
) -> DecisionRecord:
    async with deps.runtime.db.transaction() as session:
        found = or_not_found(await reports.voucher(session, caller.client, code), "No such voucher.")
        status = found.voucher_status
        if (
            status == "active"
            and found.voucher_expires_at is not None
            and found.voucher_expires_at <= datetime.now(UTC)
        ):
            status = "expired"  # not written here: the Conflict rolls back; the expiry loop marks it
        if status != "active":
            raise Conflict(f"The voucher is {status}.")
        return await _change(session, deps, found, "redeemed", caller.actor_id, reason)


async def claw_back(
    deps: CompensationDependencies, caller: Principal, decision_id: UUID, reason: str
) -> DecisionRecord:
    async with deps.runtime.db.transaction() as session:
        found = await locked_decision(session, caller.client, decision_id)
        if found.status != "granted" or found.voucher_status == "clawed_back":
            raise Conflict("Only a granted decision can be clawed back, once.")
        return await _change(session, deps, found, "clawed_back", caller.actor_id, reason)


async def expire_vouchers(deps: CompensationDependencies, batch: int) -> int:
    """Expire one batch of vouchers past their expiry; replicas skip each other's locked rows."""
    async with deps.runtime.db.transaction() as session:
        due = await reports.expired_vouchers(session, datetime.now(UTC), batch)
        for voucher in due:
            attributes = {"complaints.complaint_id": str(voucher.complaint_id)}
            with continued_trace("compensation.voucher expire", voucher.trace_context, attributes):
                expired = replace(voucher, voucher_status="expired", voucher_changed_at=datetime.now(UTC))
                await store.save_voucher_change(session, expired)
                await deps.recorder.publish_voucher(session, expired, "expired", "system", None)
    return len(due)


async def _change(
    session: AsyncConnection,
    deps: CompensationDependencies,
    decision: DecisionRecord,
    change: VoucherChange,
    by: str,
    reason: str | None,
) -> DecisionRecord:
    # Who and why stay on the decision, the audit of who granted and who took back what.
    changed = replace(
        decision,
        voucher_status=change,
        voucher_changed_at=datetime.now(UTC),
        voucher_changed_by=by,
        voucher_reason=reason,
    )
    await store.save_voucher_change(session, changed)
    await deps.recorder.publish_voucher(session, changed, change, by, reason)
    return changed
