"""What every transport shares: the outgoing message and the two ways a send can fail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message on its way: the stored row, as a transport sees it."""

    id: UUID
    # None only for a subscription's test delivery.
    complaint_id: UUID | None
    kind: str
    channel: str
    recipient: str
    subject: str | None
    body: str
    html: str | None
    language: str | None
    created_at: datetime
    # Message-IDs of this complaint's earlier e-mails, oldest first: the thread to hang this one on.
    thread: list[str] = field(default_factory=list)
    # The webhook subscription a push goes to (None: the operator-configured client webhook).
    subscription_id: UUID | None = None


class TransientFailure(Exception):
    """Worth another try later (timeouts, 4xx SMTP replies, 5xx or 429 from an HTTP provider).
    The message must be safe to log: a status code or an error class, never an address."""


class PermanentFailure(Exception):
    """Will fail the same way every time (refused address, 4xx from a provider): no retry."""


class Transport(Protocol):
    name: str

    async def send(self, message: Outgoing) -> str | None:
        """Hand the message over; return the provider's reference for it, if it gives one."""
        ...

    async def aclose(self) -> None:
        """Release what the transport holds open between messages (the delivery loop stops)."""
        ...
