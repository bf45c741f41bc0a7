"""E-mail over SMTP with aiosmtplib: a plain-text and an HTML part, and headers that thread one
complaint's messages (a stable Message-ID per message, In-Reply-To and References to the earlier ones).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from complaints_notifications.channels.base import Outgoing, PermanentFailure, TransientFailure
from complaints_notifications.settings import NotificationSettings


def message_id_header(message_id: object, domain: str) -> str:
    """The same Message-ID on every attempt, so a mailbox can drop a resent duplicate."""
    return f"<{message_id}@{domain}>"


def build_email(message: Outgoing, sender: str, domain: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject or ""
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = message_id_header(message.id, domain)
    if message.thread:
        email["In-Reply-To"] = message.thread[-1]
        email["References"] = " ".join(message.thread)
    # RFC 3834: an automatic message, so auto-responders do not answer it.
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.body)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    # After the content: set_content() drops any Content-* header set before it.
    if message.language:
        email["Content-Language"] = message.language
    return email


class SmtpTransport:
    name = "smtp"

    def __init__(self, settings: NotificationSettings) -> None:
        assert settings.smtp_host
        self.settings = settings
        self.hostname = settings.smtp_host

    async def send(self, message: Outgoing) -> str | None:
        s = self.settings
        email = build_email(message, s.mail_from, s.message_id_domain)
        try:
            _, reply = await aiosmtplib.send(
                email,
                hostname=self.hostname,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                start_tls=s.smtp_start_tls,
                use_tls=s.smtp_use_tls,
                timeout=s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({refused.code for refused in exc.recipients})
            _raise_for_code(codes[0] if codes else 550, "recipient refused")
        except aiosmtplib.SMTPResponseException as exc:
            _raise_for_code(exc.code, "SMTP reply")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientFailure(f"SMTP: {type(exc).__name__}") from exc
        return reply[:200] or None


def _raise_for_code(code: int, what: str) -> None:
    if 400 <= code < 500:
        raise TransientFailure(f"{what} {code}")
    raise PermanentFailure(f"{what} {code}")
