"""The notification.status event: what happened to one message, with no content and no address."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from complaints_common.events.contracts import NotificationStatus, NotificationStatusV1
from complaints_common.events.envelope import NOTIFICATION_STATUS_V1, Event

SOURCE = "/complaints/notifications"


def status_event(
    message: dict[str, Any], status: NotificationStatus, at: datetime
) -> Event[NotificationStatusV1]:
    data = NotificationStatusV1(
        complaint_id=message["complaint_id"],
        client_id=message.get("client_id"),
        message_id=message["id"],
        kind=message["kind"],
        channel=message["channel"],
        status=status,
        attempts=max(1, int(message.get("attempts") or 0)),
        at=at,
    )
    return Event(NOTIFICATION_STATUS_V1, data, SOURCE)
