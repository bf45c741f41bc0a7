"""Which transport carries each channel, from the settings: a configured one, else the log."""

from __future__ import annotations

import httpx

from complaints_common.db import Database
from complaints_notifications.channels.base import Transport
from complaints_notifications.channels.email import SmtpTransport
from complaints_notifications.channels.log import LogTransport
from complaints_notifications.channels.sms import HttpSmsTransport
from complaints_notifications.channels.targets import TargetPolicy
from complaints_notifications.channels.webhook import WebhookTransport
from complaints_notifications.domain.messages import Channel
from complaints_notifications.settings import NotificationSettings
from complaints_notifications.store.webhooks import SecretBox


def transports(
    settings: NotificationSettings,
    client: httpx.AsyncClient,
    db: Database,
    policy: TargetPolicy,
    box: SecretBox,
) -> dict[Channel, Transport]:
    """`policy` and `box` are the process's own (`NotificationsDependencies`): built once."""
    log = LogTransport()
    return {
        Channel.EMAIL: SmtpTransport(settings) if settings.smtp_host else log,
        Channel.SMS: HttpSmsTransport(settings, client) if settings.sms_endpoint else log,
        Channel.WEBHOOK: WebhookTransport(settings, client, db, policy, box),
    }
