"""The SMTP transport against a real SMTP server (aiosmtpd): connections are reused, and one that
was dropped, or idle too long, is replaced without failing the message."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from complaints_notifications.channels import email
from complaints_notifications.channels.base import Outgoing
from complaints_notifications.channels.email import SmtpTransport
from complaints_notifications.settings import NotificationSettings

from .conftest import Mailbox


def transport_for(server: Mailbox, concurrency: int = 4) -> SmtpTransport:
    settings = NotificationSettings(**server.smtp_settings(), delivery_concurrency=concurrency)
    return SmtpTransport(settings)


def outgoing(n: int) -> Outgoing:
    return Outgoing(
        id=uuid4(),
        complaint_id=uuid4(),
        kind="acknowledgement",
        channel="email",
        recipient=f"customer-{n}@example.invalid",
        subject=f"Your complaint {n}",
        body="We are sorry.",
        html=None,
        language="en",
        created_at=datetime.now(UTC),
    )


async def test_messages_share_a_connection_until_it_was_idle_too_long(
    smtp_server: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = transport_for(smtp_server)
    try:
        for n in range(3):
            await transport.send(outgoing(n))
        assert len(smtp_server.received) == 3
        assert len(set(smtp_server.peers)) == 1, "three messages, one connection"

        monkeypatch.setattr(email, "SMTP_IDLE_S", 0.0)
        await transport.send(outgoing(3))
        assert len(set(smtp_server.peers)) == 2, "an idle connection is not reused"
    finally:
        await transport.aclose()


async def test_a_connection_closed_meanwhile_is_replaced_and_the_message_sent(smtp_server: Mailbox) -> None:
    transport = transport_for(smtp_server)
    try:
        await transport.send(outgoing(0))
        idle_client, _ = transport._idle[0]
        idle_client.close()  # as if the server had dropped it
        await transport.send(outgoing(1))
        assert [m["To"] for m in smtp_server.received] == [
            "customer-0@example.invalid",
            "customer-1@example.invalid",
        ]
        assert len(set(smtp_server.peers)) == 2
    finally:
        await transport.aclose()


async def test_side_by_side_sends_keep_at_most_the_delivery_concurrency_open(smtp_server: Mailbox) -> None:
    transport = transport_for(smtp_server, concurrency=2)
    try:
        await asyncio.gather(*(transport.send(outgoing(n)) for n in range(6)))
        assert len(smtp_server.received) == 6
        assert len(transport._idle) <= 2
    finally:
        await transport.aclose()
    assert transport._idle == []
