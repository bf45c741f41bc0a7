"""E-mail over SMTP with aiosmtplib: a plain-text and an HTML part, and headers that thread one
complaint's messages (a stable Message-ID per message, In-Reply-To and References to the earlier ones).

Connections are kept open and reused: a connection per message cost a TCP connect, EHLO (STARTTLS
and AUTH where configured) and QUIT each time, about a tenth of the service's CPU (`make profile`).
"""

from __future__ import annotations

import asyncio
import contextlib
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from complaints_notifications.channels.base import Outgoing, PermanentFailure, TransientFailure
from complaints_notifications.settings import NotificationSettings, SmtpSecurity


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


# A connection idle longer than this is closed rather than reused: servers drop idle sessions
# (RFC 5321 asks them to wait at least 5 minutes), and a send on a dropped one would fail.
SMTP_IDLE_S = 30.0


class SmtpTransport:
    name = "smtp"

    def __init__(self, settings: NotificationSettings) -> None:
        assert settings.smtp_host
        self.settings = settings
        self.hostname = settings.smtp_host
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []  # (connection, when it was last used)

    async def send(self, message: Outgoing) -> str | None:
        s = self.settings
        email = build_email(message, s.mail_from, s.message_id_domain)
        try:
            reply = await self._send_on_a_connection(email)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({refused.code for refused in exc.recipients})
            _raise_for_code(codes[0] if codes else 550, "recipient refused")
        except aiosmtplib.SMTPResponseException as exc:
            _raise_for_code(exc.code, "SMTP reply")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientFailure(f"SMTP: {type(exc).__name__}") from exc
        return reply[:200] or None

    async def _send_on_a_connection(self, email: EmailMessage) -> str:
        client = self._reusable()
        if client is not None:
            try:
                return await self._send_and_keep(client, email)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                # Dropped while it sat idle: once more on a new connection. Should the server have
                # taken the message before dropping, the resend keeps its Message-ID.
                pass
        client = self._new_client()
        await client.connect()
        return await self._send_and_keep(client, email)

    async def _send_and_keep(self, client: aiosmtplib.SMTP, email: EmailMessage) -> str:
        try:
            _, reply = await client.send_message(email)
        except BaseException:
            _close(client)  # in an unknown state after any failure: never reused
            raise
        if len(self._idle) < self.settings.delivery_concurrency:
            self._idle.append((client, asyncio.get_running_loop().time()))
        else:
            await _quit(client)
        return reply

    def _reusable(self) -> aiosmtplib.SMTP | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            client, last_used = self._idle.pop()
            if client.is_connected and now - last_used < SMTP_IDLE_S:
                return client
            _close(client)
        return None

    def _new_client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=self.hostname,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_security is SmtpSecurity.STARTTLS,
            use_tls=s.smtp_security is SmtpSecurity.TLS,
            timeout=s.smtp_timeout_s,
        )

    async def aclose(self) -> None:
        """QUIT every idle connection (the delivery loop stops)."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(client) for client, _ in idle))


async def _quit(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
        await client.quit()
    _close(client)


def _close(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(Exception):  # closing a connection that is already gone
        client.close()


def _raise_for_code(code: int, what: str) -> None:
    if 400 <= code < 500:
        raise TransientFailure(f"{what} {code}")
    raise PermanentFailure(f"{what} {code}")
