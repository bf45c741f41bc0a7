"""CRM webhooks, signed per the Standard Webhooks specification.

Headers: `webhook-id` (the message id: the same on every retry, so the CRM can drop duplicates),
`webhook-timestamp` (seconds, this attempt) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`, one per active secret, space-separated: rotating a secret means configuring
the new one beside the old until the CRM has switched).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from complaints_notifications.channels.base import Outgoing, PermanentFailure, TransientFailure
from complaints_notifications.channels.sms import provider_reference
from complaints_notifications.settings import NotificationSettings


def signature_headers(webhook_id: str, body: str, secrets: list[str], at: datetime) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(webhook_id, at, body) for secret in secrets)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


class WebhookTransport:
    name = "webhook"

    def __init__(
        self,
        settings: NotificationSettings,
        client: httpx.AsyncClient,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.targets = settings.webhooks
        self.timeout = settings.webhook_timeout_s
        self.client = client
        self.clock = clock

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client belongs to the delivery loop."""

    async def send(self, message: Outgoing) -> str | None:
        target = self.targets.get(message.recipient)
        if target is None:
            raise PermanentFailure("no webhook configured for this client")
        secrets = [secret.get_secret_value() for secret in target.secrets]
        headers = signature_headers(f"msg_{message.id}", message.body, secrets, self.clock())
        try:
            response = await self.client.post(
                target.url, content=message.body.encode(), headers=headers, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise TransientFailure(f"webhook: {type(exc).__name__}") from exc
        return provider_reference(response, "webhook receiver")
