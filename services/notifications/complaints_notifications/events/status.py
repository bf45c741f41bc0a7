"""The notification.status event: what happened to one message, with no content and no address."""

from __future__ import annotations

from datetime import datetime

from complaints_common.events.contracts import NotificationStatus, NotificationStatusV1
from complaints_common.events.envelope import NOTIFICATION_STATUS_V1, Event
from complaints_notifications.store.messages import MessageRecord

SOURCE = "/complaints/notifications"


def status_event(
    message: MessageRecord, status: NotificationStatus, at: datetime
) -> Event[NotificationStatusV1]:
    assert message.complaint_id is not None, "only a message about a complaint is reported"
    data = NotificationStatusV1(
        complaint_id=message.complaint_id,
        client_id=message.client_id,
        message_id=message.id,
        kind=message.kind,
        channel=message.channel,
        status=status,
        attempts=max(1, message.attempts),
        at=at,
    )
    return Event(NOTIFICATION_STATUS_V1, data, SOURCE)
