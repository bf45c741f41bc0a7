"""Webhook subscriptions and their secrets, always of one client (tenant).

A secret is generated here (Standard Webhooks' `whsec_<base64 of 32 random bytes>`), returned once
to whoever created or rotated it, and kept only encrypted (Fernet; the keys come from the settings),
so neither a database dump nor a log line gives it away. Every secret not yet expired signs: after
a rotation the old ones keep signing for the overlap the caller chose, beside the new one.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy import ColumnElement, Row, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_notifications.settings import NotificationSettings
from complaints_notifications.store.tables import webhook_secrets, webhook_subscriptions

log = logging.getLogger(__name__)

# Only where no key is configured (a laptop, the tests; production refuses to start without one):
# known to anyone who reads this file.
DEVELOPMENT_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"complaints-notifications-dev-only").digest())


class SecretBox:
    """Encrypts the signing secrets for the database, and decrypts them to sign."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            log.warning(
                "no NOTIFICATIONS_WEBHOOK_ENCRYPTION_KEYS set: webhook secrets use the development key"
            )
        self.fernet = MultiFernet([Fernet(key) for key in keys] or [Fernet(DEVELOPMENT_KEY)])

    @classmethod
    def of(cls, settings: NotificationSettings) -> SecretBox:
        return cls([key.get_secret_value() for key in settings.webhook_encryption_keys])

    def seal(self, secret: str) -> str:
        return self.fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        return self.fernet.decrypt(sealed.encode()).decode()


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True, slots=True)
class Subscriber:
    """What delivery needs of a subscription: where, and the secrets that sign now."""

    id: UUID
    url: str
    secrets: list[str]


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """One row of `webhook_subscriptions`: a client's webhook and the push types it chose."""

    id: UUID
    client_id: str
    url: str
    event_types: list[str]
    description: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> SubscriptionRecord:
        return cls(**row._mapping)


@dataclass(frozen=True, slots=True)
class SecretState:
    """When a signing secret was made and when it stops signing (None while it is the current one);
    never the secret itself."""

    created_at: datetime
    expires_at: datetime | None


async def create(
    session: AsyncConnection,
    box: SecretBox,
    *,
    client_id: str,
    url: str,
    event_types: list[str],
    description: str | None,
    created_by: str,
    secret: str,
) -> SubscriptionRecord:
    subscription_id = uuid4()
    row = (
        await session.execute(
            webhook_subscriptions.insert()
            .values(
                id=subscription_id,
                client_id=client_id,
                url=url,
                event_types=event_types,
                description=description,
                created_by=created_by,
            )
            .returning(*webhook_subscriptions.c)
        )
    ).one()
    await session.execute(
        webhook_secrets.insert().values(subscription_id=subscription_id, encrypted=box.seal(secret))
    )
    return SubscriptionRecord.of(row)


async def count_of(session: AsyncConnection, client_id: str) -> int:
    query = select(func.count()).where(webhook_subscriptions.c.client_id == client_id)
    return int((await session.execute(query)).scalar_one())


async def of_client(session: AsyncConnection, client_id: str) -> list[SubscriptionRecord]:
    rows = await session.execute(
        select(webhook_subscriptions)
        .where(webhook_subscriptions.c.client_id == client_id)
        .order_by(webhook_subscriptions.c.created_at, webhook_subscriptions.c.id)
    )
    return [SubscriptionRecord.of(row) for row in rows]


async def one(
    session: AsyncConnection, client_id: str, subscription_id: UUID, *, lock: bool = False
) -> SubscriptionRecord | None:
    """The client's subscription; None alike for a missing one and another client's."""
    query = select(webhook_subscriptions).where(
        webhook_subscriptions.c.id == subscription_id, webhook_subscriptions.c.client_id == client_id
    )
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    return SubscriptionRecord.of(row) if row else None


async def update_subscription(
    session: AsyncConnection,
    client_id: str,
    subscription_id: UUID,
    *,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
) -> SubscriptionRecord | None:
    """Change what is given (None keeps the field); None if the client has no such subscription."""
    given = {"url": url, "event_types": event_types, "description": description}
    values = {column: value for column, value in given.items() if value is not None}
    row = (
        await session.execute(
            update(webhook_subscriptions)
            .where(
                webhook_subscriptions.c.id == subscription_id, webhook_subscriptions.c.client_id == client_id
            )
            .values(updated_at=func.now(), **values)
            .returning(*webhook_subscriptions.c)
        )
    ).first()
    return SubscriptionRecord.of(row) if row else None


async def remove(session: AsyncConnection, client_id: str, subscription_id: UUID) -> bool:
    result = await session.execute(
        delete(webhook_subscriptions).where(
            webhook_subscriptions.c.id == subscription_id, webhook_subscriptions.c.client_id == client_id
        )
    )
    return bool(result.rowcount)


def _active(now: datetime) -> ColumnElement[bool]:
    return or_(webhook_secrets.c.expires_at.is_(None), webhook_secrets.c.expires_at > now)


async def rotate(
    session: AsyncConnection,
    box: SecretBox,
    subscription_id: UUID,
    secret: str,
    now: datetime,
    overlap_s: int,
) -> datetime:
    """The new secret signs from now; the ones signing until now stop after the overlap (sooner if
    they were ending sooner). Secrets already expired are deleted. Returns when the old ones stop."""
    ends = now + timedelta(seconds=overlap_s)
    await session.execute(
        delete(webhook_secrets).where(
            webhook_secrets.c.subscription_id == subscription_id, webhook_secrets.c.expires_at <= now
        )
    )
    await session.execute(
        update(webhook_secrets)
        .where(webhook_secrets.c.subscription_id == subscription_id, _active(now))
        .values(expires_at=func.least(func.coalesce(webhook_secrets.c.expires_at, ends), ends))
    )
    await session.execute(
        webhook_secrets.insert().values(subscription_id=subscription_id, encrypted=box.seal(secret))
    )
    return ends


async def secret_states(
    session: AsyncConnection, subscription_ids: list[UUID], now: datetime
) -> dict[UUID, list[SecretState]]:
    """When each signing secret was made and when it stops (never the secret), newest first."""
    found: dict[UUID, list[SecretState]] = {i: [] for i in subscription_ids}
    if subscription_ids:
        rows = await session.execute(
            select(
                webhook_secrets.c.subscription_id, webhook_secrets.c.created_at, webhook_secrets.c.expires_at
            )
            .where(webhook_secrets.c.subscription_id.in_(subscription_ids), _active(now))
            .order_by(webhook_secrets.c.created_at.desc(), webhook_secrets.c.id.desc())
        )
        for row in rows:
            found[row.subscription_id].append(SecretState(row.created_at, row.expires_at))
    return found


async def subscribed(session: AsyncConnection, client_id: str | None, push_type: str) -> list[UUID]:
    """The client's subscriptions that chose `push_type`."""
    if client_id is None:
        return []
    rows = await session.execute(
        select(webhook_subscriptions.c.id).where(
            webhook_subscriptions.c.client_id == client_id,
            webhook_subscriptions.c.event_types.any_() == push_type,
        )
    )
    return [row.id for row in rows]


async def subscriber(
    session: AsyncConnection, box: SecretBox, subscription_id: UUID, now: datetime
) -> Subscriber | None:
    """Where a push goes and the secrets that sign it now; None once the subscription is deleted."""
    row = (
        await session.execute(
            select(webhook_subscriptions.c.url).where(webhook_subscriptions.c.id == subscription_id)
        )
    ).first()
    if row is None:
        return None
    sealed = await session.execute(
        select(webhook_secrets.c.encrypted)
        .where(webhook_secrets.c.subscription_id == subscription_id, _active(now))
        .order_by(webhook_secrets.c.id.desc())
    )
    return Subscriber(subscription_id, row.url, [box.open(s.encrypted) for s in sealed])
