"""The default transport when a channel is not configured: it records that the message went out,
with ids only (the content and the address are personal data and stay in the database)."""

from __future__ import annotations

import logging

from complaints_notifications.channels.base import Outgoing

log = logging.getLogger(__name__)


class LogTransport:
    name = "log"

    async def aclose(self) -> None:
        """Nothing to release: nothing held open."""

    async def send(self, message: Outgoing) -> str | None:
        log.info(
            "message sent to the log transport",
            extra={"message_id": str(message.id), "kind": message.kind, "channel": message.channel},
        )
        return None
