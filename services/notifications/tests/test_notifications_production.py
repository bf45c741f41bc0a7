"""Safe defaults: in production the service refuses to start where customer messages would be marked
`sent` by the log transport without reaching anybody, and SMTP speaks TLS unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from complaints_notifications.settings import NotificationSettings, SmtpSecurity

REAL_CHANNELS = {
    # What production asks of every service besides (Kafka over TLS), so the channels decide here.
    "kafka_security": {"protocol": "SSL"},
    "smtp_host": "smtp.example.com",
    "sms_endpoint": "https://sms.example.com/send",
    # Production also keeps webhook secrets under its own key.
    "webhook_encryption_keys": ["Is-gcSm963Cidam9-Bz7pEPgJKiBEDAoE_4QKzQ9DT4="],
}


def test_smtp_is_starttls_on_the_submission_port_by_default() -> None:
    settings = NotificationSettings()
    assert settings.smtp_security is SmtpSecurity.STARTTLS
    assert settings.smtp_port == 587


@pytest.mark.parametrize("missing", ["smtp_host", "sms_endpoint"])
def test_production_refuses_a_channel_that_would_go_to_the_log_transport(missing: str) -> None:
    values = {**REAL_CHANNELS, missing: None}
    with pytest.raises(ValidationError, match=f"NOTIFICATIONS_{missing.upper()} unset"):
        NotificationSettings(production=True, **values)


def test_production_refuses_plaintext_smtp_and_accepts_real_channels_over_tls() -> None:
    with pytest.raises(ValidationError, match="plaintext SMTP is refused"):
        NotificationSettings(production=True, smtp_security="plaintext", **REAL_CHANNELS)
    for security in ("starttls", "tls"):
        assert NotificationSettings(production=True, smtp_security=security, **REAL_CHANNELS).production
    # Outside production the log transport stays the laptop's default.
    assert NotificationSettings().smtp_host is None


def test_the_service_does_not_start_in_production_without_real_channels() -> None:
    exe = Path(sys.executable).parent / "complaints-notifications"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NOTIFICATIONS_")},
        "NOTIFICATIONS_PRODUCTION": "true",
        "NOTIFICATIONS_KAFKA_SECURITY__PROTOCOL": "SSL",
    }
    done = subprocess.run(
        [str(exe), "worker"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "marked sent without reaching anybody" in done.stderr
