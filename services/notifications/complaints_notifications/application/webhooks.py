"""Webhook subscriptions: a CRM client's admin registers where the platform pushes what.

Every use case acts on the caller's own client only: another client's subscription answers 404
like a missing one. The signing secret is generated here and returned once (on creation and on
rotation); it is never returned again, logged or put in an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from fastapi_problem.error import StatusProblem

from complaints_common.api import Principal
from complaints_common.problems import Conflict, NotFound, or_not_found
from complaints_notifications.application.pushes import push_test
from complaints_notifications.dependencies import NotificationsDependencies
from complaints_notifications.domain.push import TargetRefused
from complaints_notifications.store import webhooks as store
from complaints_notifications.store.webhooks import SecretState, SubscriptionRecord

NO_SUBSCRIPTION = "No subscription has this id."


class WebhookTargetRefused(StatusProblem):
    type_ = "webhook-target-refused"
    title = "The webhook target may not be called."
    status = 422


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A subscription with the states of the secrets that sign for it now, newest first."""

    subscription: SubscriptionRecord
    secrets: list[SecretState]


@dataclass(frozen=True, slots=True)
class Rotated:
    secret: str
    previous_secrets_expire_at: datetime


async def subscribe(
    deps: NotificationsDependencies,
    principal: Principal,
    url: str,
    event_types: Sequence[str],
    description: str | None,
) -> tuple[Subscribed, str]:
    """Register the URL for the push types (checked now, and again at every delivery); the new
    subscription and its signing secret, shown this once."""
    await _check_target(deps, url)
    secret, most = store.new_secret(), deps.settings.webhook_max_subscriptions
    async with deps.runtime.db.transaction() as session:
        if await store.count_of(session, principal.client) >= most:
            raise Conflict(f"At most {most} subscriptions per client.")
        created = await store.create(
            session,
            deps.secrets,
            client_id=principal.client,
            url=url,
            event_types=sorted(set(event_types)),
            description=description,
            created_by=principal.actor_id,
            secret=secret,
        )
    (subscribed,) = await _with_secrets(deps, [created])
    return subscribed, secret


async def subscriptions_of(deps: NotificationsDependencies, principal: Principal) -> list[Subscribed]:
    async with deps.runtime.db.transaction() as session:
        found = await store.of_client(session, principal.client)
    return await _with_secrets(deps, found)


async def subscription(
    deps: NotificationsDependencies, principal: Principal, subscription_id: UUID
) -> Subscribed:
    async with deps.runtime.db.transaction() as session:
        found = or_not_found(await store.one(session, principal.client, subscription_id), NO_SUBSCRIPTION)
    return (await _with_secrets(deps, [found]))[0]


async def change_subscription(
    deps: NotificationsDependencies,
    principal: Principal,
    subscription_id: UUID,
    *,
    url: str | None,
    event_types: Sequence[str] | None,
    description: str | None,
) -> Subscribed:
    """Change what is given (None keeps it); a new URL is checked like a subscription's first."""
    if url is not None:
        await _check_target(deps, url)
    chosen = sorted(set(event_types)) if event_types is not None else None
    async with deps.runtime.db.transaction() as session:
        changed = await store.update_subscription(
            session, principal.client, subscription_id, url=url, event_types=chosen, description=description
        )
    if changed is None:
        raise NotFound(NO_SUBSCRIPTION)
    return (await _with_secrets(deps, [changed]))[0]


async def rotate_secret(
    deps: NotificationsDependencies, principal: Principal, subscription_id: UUID, overlap_s: int | None
) -> Rotated:
    """A new secret signs from now; the previous ones beside it for the overlap (the operator's
    default unless the caller chose one)."""
    secret = store.new_secret()
    overlap = deps.settings.webhook_secret_overlap_s if overlap_s is None else overlap_s
    async with deps.runtime.db.transaction() as session:
        if await store.one(session, principal.client, subscription_id, lock=True) is None:
            raise NotFound(NO_SUBSCRIPTION)
        ends = await store.rotate(session, deps.secrets, subscription_id, secret, datetime.now(UTC), overlap)
    return Rotated(secret, ends)


async def send_test(deps: NotificationsDependencies, principal: Principal, subscription_id: UUID) -> UUID:
    """Queue a signed test push to the subscription, whatever push types it chose; its message id."""
    async with deps.runtime.db.transaction() as session:
        if await store.one(session, principal.client, subscription_id) is None:
            raise NotFound(NO_SUBSCRIPTION)
        return await push_test(session, principal.client, subscription_id)


async def unsubscribe(deps: NotificationsDependencies, principal: Principal, subscription_id: UUID) -> None:
    """Delete the subscription; its pushes not sent yet fail as 'subscription deleted'."""
    async with deps.runtime.db.transaction() as session:
        if not await store.remove(session, principal.client, subscription_id):
            raise NotFound(NO_SUBSCRIPTION)


async def _check_target(deps: NotificationsDependencies, url: str) -> None:
    try:
        await deps.targets.check(url)
    except TargetRefused as exc:
        raise WebhookTargetRefused(str(exc)) from exc


async def _with_secrets(deps: NotificationsDependencies, found: list[SubscriptionRecord]) -> list[Subscribed]:
    async with deps.runtime.db.transaction() as session:
        states = await store.secret_states(session, [s.id for s in found], datetime.now(UTC))
    return [Subscribed(s, states[s.id]) for s in found]
