"""E-mail over SMTP with aiosmtplib: a plain-text and an HTML part, and headers that thread one
complaint's messages (a stable Message-ID per message, In-Reply-To and References to the earlier ones).

Connections are kept open and reused: a connection per message cost a TCP connect, EHLO (STARTTLS
and AUTH where configured) and QUIT each time, about a tenth of the service's CPU (`make profile`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

import aiosmtplib

from complaints_notifications.channels.base import Outgoing, PermanentFailure, TransientFailure
from complaints_notifications.settings import NotificationSettings, SmtpSecurity


def message_id_header(message_id: object, domain: str) -> str:
    """The same Message-ID on every attempt, so a mailbox can drop a resent duplicate."""
    return f"<{message_id}@{domain}>"


class MailComposer:
    """Composes each message's bytes straight from its parts: the headers that never change (From)
    are encoded once per process, and nothing is parsed. `email.message.EmailMessage` parsed and
    re-folded every header on each message through its policy, most of the channel's CPU
    (`make profile`). Non-ASCII subjects and names are RFC 2047 encoded words, parts are base64."""

    def __init__(self, sender: str, domain: str) -> None:
        name, address = parseaddr(sender)
        self.envelope_sender = address
        self.from_header = formataddr((name, address), charset="utf-8")
        self.domain = domain

    def compose(self, message: Outgoing) -> bytes:
        for value in (message.recipient, message.language or ""):
            # SMTPUTF8 is not negotiated, and a line break would start a header of its own.
            if not value.isascii() or "\r" in value or "\n" in value:
                raise PermanentFailure("recipient address or language not plain ASCII")
        headers = [
            f"From: {self.from_header}",
            f"To: {message.recipient}",
            f"Subject: {_encoded(message.subject or '', 'Subject')}",
            f"Date: {format_datetime(message.created_at)}",
            f"Message-ID: {message_id_header(message.id, self.domain)}",
        ]
        if message.thread:
            headers.append(f"In-Reply-To: {message.thread[-1]}")
            # Folded one id a line: a long thread stays within the 998-character line limit.
            headers.append("References: " + "\r\n ".join(message.thread))
        # RFC 3834: an automatic message, so auto-responders do not answer it.
        headers.append("Auto-Submitted: auto-generated")
        if message.language:
            headers.append(f"Content-Language: {message.language}")
        headers.append("MIME-Version: 1.0")
        text = _part("plain", message.body)
        if not message.html:
            return _joined([*headers, text])
        boundary = f"=_{message.id.hex}"
        body = f"--{boundary}\r\n{text}\r\n--{boundary}\r\n{_part('html', message.html)}\r\n--{boundary}--"
        alternative = f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n{body}'
        return _joined([*headers, alternative])


def _encoded(value: str, name: str) -> str:
    """The value as it stands when it is short plain ASCII, else as encoded words (which also keep a
    line break in the value from ending the header)."""
    if value.isascii() and len(value) < 900 and "\r" not in value and "\n" not in value:
        return value
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def _part(subtype: str, content: str) -> str:
    """A UTF-8 text part, base64 (76-character lines, as MIME wants)."""
    encoded = base64.encodebytes(content.encode()).decode("ascii").replace("\n", "\r\n")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}'
    )


def _joined(lines: list[str]) -> bytes:
    return "\r\n".join(lines).encode("ascii") + b"\r\n"


# A connection idle longer than this is closed rather than reused: servers drop idle sessions
# (RFC 5321 asks them to wait at least 5 minutes), and a send on a dropped one would fail.
SMTP_IDLE_S = 30.0


class SmtpTransport:
    name = "smtp"

    def __init__(self, settings: NotificationSettings) -> None:
        assert settings.smtp_host
        self.settings = settings
        self.hostname = settings.smtp_host
        self.composer = MailComposer(settings.mail_from, settings.message_id_domain)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []  # (connection, when it was last used)

    async def send(self, message: Outgoing) -> str | None:
        email = self.composer.compose(message)
        try:
            reply = await self._send_on_a_connection(message.recipient, email)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({refused.code for refused in exc.recipients})
            _raise_for_code(codes[0] if codes else 550, "recipient refused")
        except aiosmtplib.SMTPResponseException as exc:
            _raise_for_code(exc.code, "SMTP reply")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientFailure(f"SMTP: {type(exc).__name__}") from exc
        return reply[:200] or None

    async def _send_on_a_connection(self, recipient: str, email: bytes) -> str:
        client = self._reusable()
        if client is not None:
            try:
                return await self._send_and_keep(client, recipient, email)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                # Dropped while it sat idle: once more on a new connection. Should the server have
                # taken the message before dropping, the resend keeps its Message-ID.
                pass
        client = self._new_client()
        await client.connect()
        return await self._send_and_keep(client, recipient, email)

    async def _send_and_keep(self, client: aiosmtplib.SMTP, recipient: str, email: bytes) -> str:
        try:
            _, reply = await client.sendmail(self.composer.envelope_sender, [recipient], email)
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
