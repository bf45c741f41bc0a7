"""Progress updates: a complaint still open whose customer has heard nothing for the progress
interval (`NOTIFICATIONS_PROGRESS_UPDATE_AFTER_H`) gets a short word on how it is going, with its
owner and the next-contact date like every message. One message per silent interval: its event id
counts the updates, so a replica or a retry after a crash records the same one once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from complaints_common.loops import BackgroundLoop, every, periodically
from complaints_notifications.dependencies import NotificationsDependencies
from complaints_notifications.domain.messages import MessageKind
from complaints_notifications.store.messages import (
    lock_complaint,
    silent_open_complaints,
    still_silent,
    update_recipient,
)
from complaints_notifications.store.recording import Asked, record
from complaints_notifications.store.sql import json_text

BATCH = 100


async def send_progress_updates(deps: NotificationsDependencies, now: datetime | None = None) -> int:
    """Record and compose one batch of progress updates, each complaint in its own transaction
    under its compose lock (as the consumers take it); how many were sent."""
    now = now or datetime.now(UTC)
    composer, db = deps.composer, deps.runtime.db
    told_before = now - composer.progress_after
    async with db.transaction() as session:
        candidates = await silent_open_complaints(session, told_before, BATCH)
    sent = 0
    for complaint_id in candidates:
        async with db.transaction() as session:
            await lock_complaint(session, complaint_id)
            silent = await still_silent(session, complaint_id, told_before)
            if silent is None:
                continue  # told meanwhile, closed, or updated by another replica
            count = silent.progress_updates + 1
            await record(
                session,
                event_id=f"progress:{complaint_id}:{count}",
                client_id=silent.client_id,
                complaint_id=complaint_id,
                asked=Asked(MessageKind.PROGRESS_UPDATE, json_text({"update": count})),
            )
            # Told now, even when the message cannot be composed: one update per silent interval.
            await update_recipient(session, complaint_id, progress_updates=count, last_told_at=now)
            await composer.compose_awaiting(session, complaint_id)
            sent += 1
    return sent


def progress_loops(deps: NotificationsDependencies) -> list[BackgroundLoop]:
    async def turn() -> bool:
        return await send_progress_updates(deps) >= BATCH  # more may be waiting

    async def loop(stop: asyncio.Event) -> None:
        await periodically(stop, "progress updates", turn, every(deps.settings.progress_check_interval_s))

    return [loop]
