"""Progress updates: a complaint still open whose customer has heard nothing for the progress
interval (`NOTIFICATIONS_PROGRESS_UPDATE_AFTER_H`) gets a short word on how it is going, with its
owner and the next-contact date like every message. One message per silent interval: its event id
counts the updates, so a replica or a retry after a crash records the same one once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from complaints_common.loops import every, periodically
from complaints_common.runtime import Runtime
from complaints_notifications.domain.messages import MessageKind
from complaints_notifications.events.handlers import Composer, composer_of
from complaints_notifications.settings import NotificationSettings
from complaints_notifications.store.messages import queue_message, silent_open_complaints, update_recipient

BATCH = 100


async def send_progress_updates(runtime: Runtime, composer: Composer, now: datetime | None = None) -> int:
    """Record and compose one batch of progress updates; how many."""
    now = now or datetime.now(UTC)
    async with runtime.db.transaction() as session:
        rows = await silent_open_complaints(session, now - composer.progress_after, BATCH)
        for row in rows:
            count = int(row["progress_updates"]) + 1
            await queue_message(
                session,
                event_id=f"progress:{row['complaint_id']}:{count}",
                client_id=row["client_id"],
                complaint_id=row["complaint_id"],
                kind=MessageKind.PROGRESS_UPDATE,
                data={"update": count},
            )
            # Told now, even when the message cannot be composed: one update per silent interval.
            await update_recipient(session, row["complaint_id"], progress_updates=count, last_told_at=now)
            await composer.compose_awaiting(session, row["complaint_id"])
    return len(rows)


def background(runtime: Runtime) -> list[Any]:
    settings = runtime.settings
    assert isinstance(settings, NotificationSettings)
    composer = composer_of(runtime)

    async def turn() -> bool:
        return await send_progress_updates(runtime, composer) >= BATCH

    async def loop(stop: asyncio.Event) -> None:
        await periodically(stop, "progress updates", turn, every(settings.progress_check_interval_s))

    return [loop]
