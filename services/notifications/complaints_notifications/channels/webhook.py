"""CRM webhooks, signed per the Standard Webhooks specification.

Headers: `webhook-id` (the message id: the same on every retry, so the CRM can drop duplicates),
`webhook-timestamp` (seconds, this attempt) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`, one per active secret, space-separated: during a rotation's overlap the old
and the new secret both sign, so the CRM can switch at its own pace).

A push to a subscription (/v1/webhooks) reads the subscription's URL and current secrets when it is
sent, and checks the target's addresses again (DNS rebinding), pinning the call to them. A call-back
task without a subscription goes to the operator-configured client webhook (settings `webhooks`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from complaints_common.db import Database
from complaints_notifications.channels.base import Outgoing, PermanentFailure, TransientFailure
from complaints_notifications.channels.sms import provider_reference
from complaints_notifications.channels.targets import TargetPolicy, Unresolvable
from complaints_notifications.domain.push import TargetRefused
from complaints_notifications.settings import NotificationSettings
from complaints_notifications.store.webhooks import SecretBox, subscriber


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
        db: Database,
        policy: TargetPolicy,
        box: SecretBox,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.targets = settings.webhooks
        self.timeout = settings.webhook_timeout_s
        self.policy = policy
        self.box = box
        self.client = client
        self.db = db
        self.clock = clock

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client belongs to the delivery loop."""

    async def send(self, message: Outgoing) -> str | None:
        now = self.clock()
        if message.subscription_id is None:
            configured = self.targets.get(message.recipient)
            if configured is None:
                raise PermanentFailure("no webhook configured for this client")
            secrets = [secret.get_secret_value() for secret in configured.secrets]
            return await self._post(message, configured.url, {}, secrets, now)
        async with self.db.transaction() as session:
            found = await subscriber(session, self.box, message.subscription_id, now)
        if found is None:
            raise PermanentFailure("the webhook subscription was deleted")
        try:
            target = await self.policy.check(found.url)
        except Unresolvable as exc:
            raise TransientFailure("webhook: the target's host does not resolve") from exc
        except TargetRefused as exc:
            raise PermanentFailure("webhook: the target's address is not allowed") from exc
        # The certificate is checked against the host name, though the call goes to the address.
        tls = {"sni_hostname": target.server_name} if target.server_name else None
        return await self._post(message, target.url, {"host": target.host_header}, found.secrets, now, tls)

    async def _post(
        self,
        message: Outgoing,
        url: str,
        extra_headers: dict[str, str],
        secrets: list[str],
        now: datetime,
        extensions: dict[str, Any] | None = None,
    ) -> str | None:
        headers = signature_headers(f"msg_{message.id}", message.body, secrets, now) | extra_headers
        try:
            response = await self.client.post(
                url,
                content=message.body.encode(),
                headers=headers,
                timeout=self.timeout,
                extensions=extensions,
            )
        except httpx.HTTPError as exc:
            raise TransientFailure(f"webhook: {type(exc).__name__}") from exc
        return provider_reference(response, "webhook receiver")
