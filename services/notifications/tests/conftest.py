"""Notifications' test fixtures: the shared server fixtures, a real SMTP server (aiosmtpd) in the
test process, and a local HTTP server that plays the SMS provider and the CRM's webhook receiver.

The shared server fixtures (`database_url`, `kafka_bootstrap`, `topics`) come from the repo-root
conftest.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request, Response

from complaints_devstack.ports import free_port


@dataclass
class Mailbox:
    """What the test SMTP server accepted, parsed, in order."""

    port: int
    received: list[EmailMessage] = field(default_factory=list)
    # The client's (host, port) for each message: one per connection it came over.
    peers: list[tuple[str, int]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        self.peers.append(tuple(session.peer[:2]))
        return "250 OK queued"

    def smtp_settings(self) -> dict[str, Any]:
        """The settings that send the service's e-mail here: this server speaks no TLS."""
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_security": "plaintext"}


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    mailbox = Mailbox(free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@dataclass
class Provider:
    """The SMS provider and the CRM: records every request; `failures` scripted answers come first."""

    url: str
    sms: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    hooks: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)

    def next_status(self) -> int:
        return self.failures.pop(0) if self.failures else 200


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    port = free_port()
    state = Provider(f"http://127.0.0.1:{port}")
    app = FastAPI()

    @app.post("/sms")
    async def sms(request: Request) -> Response:
        state.sms.append((dict(request.headers), await request.json()))
        status = state.next_status()
        return Response(
            f'{{"id": "sms-{len(state.sms)}"}}', status_code=status, media_type="application/json"
        )

    @app.post("/hooks")
    async def hooks(request: Request) -> Response:
        state.hooks.append((dict(request.headers), await request.body()))
        return Response(status_code=state.next_status())

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield state
    finally:
        server.should_exit = True
        await task
