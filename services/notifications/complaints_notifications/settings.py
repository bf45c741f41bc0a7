"""Notifications' settings: environment variables prefixed NOTIFICATIONS_.

No channel is configured by default: messages then go to the `log` transport (ids only, never
content), so a laptop stack and the e2e platform work without an SMTP server or SMS provider. That
transport marks a message `sent` although nobody received it, so in production
(`NOTIFICATIONS_PRODUCTION=true`) the service refuses to start without a real SMTP server and SMS
provider. SMTP speaks TLS by default (STARTTLS; implicit TLS on request); plaintext is an explicit
opt-in for a local test server, refused in production.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum

from pydantic import BaseModel, Field, IPvAnyNetwork, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from complaints_common.settings import ServiceSettings

# The longest a rotated-out secret may keep signing: a week.
WEBHOOK_MAX_OVERLAP_S = 7 * 86_400


class WebhookTarget(BaseModel):
    """An operator-configured call-back for one CRM client (the fallback before the /v1/webhooks
    API): where to POST call-back tasks, and the secrets to sign with (several while a secret is
    being rotated: each active one signs, so the CRM can switch at its own pace)."""

    url: str = Field(pattern=r"^https?://", examples=["https://crm.example.com/hooks/complaints"])
    secrets: list[SecretStr] = Field(min_length=1, description="Standard Webhooks secrets, `whsec_<base64>`.")


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # submission (port 587): the server must offer STARTTLS
    TLS = "tls"  # implicit TLS (port 465)
    PLAINTEXT = "plaintext"  # a local test server only; refused in production


class NotificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "notifications"
    http_port: int = 8084

    # E-mail over SMTP; unset host = the log transport.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # The server's certificate is verified against the system's CAs in both TLS modes.
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    mail_from: str = "Customer Care <care@example.com>"
    message_id_domain: str = "complaints.example.com"

    # SMS through an HTTP provider; unset endpoint = the log transport.
    sms_endpoint: str | None = Field(default=None, pattern=r"^https?://")
    sms_api_token: SecretStr | None = None
    sms_sender: str = "CustomerCare"
    sms_timeout_s: float = Field(default=10.0, gt=0)
    sms_quiet_start: time = time(21, 0)
    sms_quiet_end: time = time(8, 0)
    default_time_zone: str = "UTC"

    # Operator-level fallback: call-back tasks per client id (the client that filed the complaint),
    # for a client with no subscription to complaint.callback_task through /v1/webhooks. Trusted as
    # configured (no address check).
    webhooks: dict[str, WebhookTarget] = Field(default_factory=dict)
    webhook_timeout_s: float = Field(default=10.0, gt=0)

    # Webhook subscriptions (/v1/webhooks). A target must be https and resolve to public addresses
    # only, checked when it is registered and again at every delivery (DNS rebinding); an operator
    # may allow plain http, and networks otherwise refused (a CRM on the private network; loopback
    # in tests), e.g. NOTIFICATIONS_WEBHOOK_ALLOWED_NETWORKS='["10.20.0.0/16"]'.
    webhook_allow_http: bool = False
    webhook_allowed_networks: list[IPvAnyNetwork] = Field(default_factory=list)
    webhook_resolve_timeout_s: float = Field(default=2.0, gt=0)
    # How long the previous secrets keep signing after a rotation, unless the request says.
    webhook_secret_overlap_s: int = Field(default=86_400, ge=0, le=WEBHOOK_MAX_OVERLAP_S)
    webhook_max_subscriptions: int = Field(default=20, ge=1, le=1000)
    # Fernet keys (urlsafe base64 of 32 bytes) that encrypt the stored secrets: the first encrypts,
    # all decrypt (rotate by putting a new key first). Unset: a development key, with a warning.
    webhook_encryption_keys: list[SecretStr] = Field(default_factory=list)

    survey_url: str = "https://survey.example.com/{reference}"

    # Who handles complaints in the customer's eyes: every message names the care team (or, once
    # escalated, a supervisor on it) and these ways to reach them.
    care_email: str = Field(default="care@example.com", max_length=254)
    care_phone: str = Field(default="+44 20 7946 0000", max_length=32)
    # An open complaint whose customer has heard nothing for this long gets a short progress update;
    # it is also the latest next-contact date any message promises.
    progress_update_after_h: float = Field(default=72.0, gt=0, le=24 * 14)
    progress_check_interval_s: float = Field(default=60.0, gt=0)

    # The delivery loop.
    delivery_max_attempts: int = Field(default=6, ge=1, le=50)
    delivery_backoff_base_s: float = Field(default=2.0, gt=0)
    delivery_backoff_max_s: float = Field(default=600.0, gt=0)
    delivery_poll_interval_s: float = Field(default=1.0, gt=0)
    delivery_batch_size: int = Field(default=50, ge=1, le=1000)
    delivery_concurrency: int = Field(default=16, ge=1, le=256)
    # A message claimed longer ago than this (its worker died mid-send) is claimed again.
    delivery_lease_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _production_needs_real_channels(self) -> NotificationSettings:
        if not self.production:
            return self
        missing = [
            name
            for name, configured in (
                ("NOTIFICATIONS_SMTP_HOST", self.smtp_host),
                ("NOTIFICATIONS_SMS_ENDPOINT", self.sms_endpoint),
            )
            if not configured
        ]
        if missing:
            raise ValueError(
                f"production: {', '.join(missing)} unset; messages would go to the log transport and be "
                "marked sent without reaching anybody"
            )
        if self.smtp_security is SmtpSecurity.PLAINTEXT:
            raise ValueError("production: plaintext SMTP is refused; use starttls or tls")
        return self

    # After the channels' check: a production start without channels says that first.
    @model_validator(mode="after")
    def _production_encrypts_webhook_secrets_with_its_own_key(self) -> NotificationSettings:
        if self.production and not self.webhook_encryption_keys:
            raise ValueError(
                "production: set NOTIFICATIONS_WEBHOOK_ENCRYPTION_KEYS (webhook secrets at rest)"
            )
        return self
