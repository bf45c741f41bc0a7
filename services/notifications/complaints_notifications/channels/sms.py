"""SMS through an HTTP provider: one POST per message with a bearer token and an Idempotency-Key
(the message id), so a provider that honours it sends a retried message once.

The request is JSON {"to", "from", "text", "reference"}; a 2xx answer may carry {"id"}. 429, 5xx,
timeouts and connection errors are transient; any other 4xx is permanent.
"""

from __future__ import annotations

import httpx

from complaints_notifications.channels.base import Outgoing, PermanentFailure, TransientFailure
from complaints_notifications.settings import NotificationSettings


class HttpSmsTransport:
    name = "sms-http"

    def __init__(self, settings: NotificationSettings, client: httpx.AsyncClient) -> None:
        assert settings.sms_endpoint
        self.endpoint = settings.sms_endpoint
        self.settings = settings
        self.client = client

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client belongs to the delivery loop."""

    async def send(self, message: Outgoing) -> str | None:
        headers = {"Idempotency-Key": str(message.id)}
        if self.settings.sms_api_token:
            headers["Authorization"] = f"Bearer {self.settings.sms_api_token.get_secret_value()}"
        body = {
            "to": message.recipient,
            "from": self.settings.sms_sender,
            "text": message.body,
            "reference": str(message.id),
        }
        try:
            response = await self.client.post(
                self.endpoint, json=body, headers=headers, timeout=self.settings.sms_timeout_s
            )
        except httpx.HTTPError as exc:
            raise TransientFailure(f"SMS provider: {type(exc).__name__}") from exc
        return provider_reference(response, "SMS provider")


def provider_reference(response: httpx.Response, who: str) -> str | None:
    """Classify an HTTP answer: the provider's id on success, else the right kind of failure."""
    status = response.status_code
    if status == 429 or status == 408 or status >= 500:
        raise TransientFailure(f"{who} answered {status}")
    if status >= 400:
        raise PermanentFailure(f"{who} answered {status}")
    try:
        found = response.json().get("id")
    except (ValueError, AttributeError):
        return None
    return str(found)[:200] if found else None
