"""The work per handled event and per delivered message, counted in statements sent to PostgreSQL
(real server, no broker: events handed to the handlers as the consumer would), with what those
statements wrote: several messages composed in one write, pushes to exactly the subscriptions that
exist when the event is handled, whichever replica registered or removed them, a delivery claimed
and completed with its log in one statement each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.events.envelope import Event
from complaints_common.runtime import Runtime
from complaints_devstack.factories import (
    CLIENT,
    compensation_granted,
    complaint_created,
    deadlines_changed,
    decision_recorded,
    status_changed,
)
from complaints_devstack.service_testing import counted_database, counted_delivery, migrated_runtime
from complaints_devstack.service_testing import test_settings as service_settings
from complaints_notifications.application.delivery import DeliveryWorker
from complaints_notifications.channels.base import Transport
from complaints_notifications.channels.log import LogTransport
from complaints_notifications.dependencies import NotificationsDependencies
from complaints_notifications.domain.messages import Channel
from complaints_notifications.main import SERVICE
from complaints_notifications.settings import NotificationSettings
from complaints_notifications.store import webhooks

pytestmark = pytest.mark.integration


def _settings(database_url: str) -> NotificationSettings:
    return service_settings(NotificationSettings, database_url, "127.0.0.1:1", "", delivery_batch_size=10)


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    rt = await migrated_runtime(SERVICE, _settings(database_url))
    yield rt
    await rt.db.dispose()


@pytest.fixture
def deps(runtime: Runtime) -> NotificationsDependencies:
    built = SERVICE.dependencies(runtime)
    assert isinstance(built, NotificationsDependencies)
    return built


Handle = Callable[[Event[Any]], Awaitable[int]]


@pytest.fixture
def handle(runtime: Runtime) -> Handle:
    """`await handle(event)`: the event handed to its handler in its inbox transaction, as the
    consumer does; the number of statements the handler sent."""
    deliver = counted_delivery(SERVICE)

    async def handled(event_: Event[Any]) -> int:
        return len(await deliver(runtime, event_))

    return handled


async def rows(rt: Runtime, query: str, **values: Any) -> list[dict[str, Any]]:
    async with rt.db.transaction() as session:
        return [dict(row._mapping) for row in await session.execute(text(query), values)]


async def test_an_event_takes_one_statement_and_two_more_when_it_has_a_message_to_compose(
    runtime: Runtime, handle: Handle
) -> None:
    complaint_id, now = uuid4(), datetime.now(UTC)
    # Compensation first (it travels on another topic): its message waits for the recipient.
    counts = {"compensation.granted (before the complaint)": await handle(granted(complaint_id))}
    counts["complaint.created"] = await handle(created(complaint_id))
    counts["compensation.granted"] = await handle(granted(complaint_id))
    decision = decision_recorded(complaint_id, "cust-1", "pending_approval", now)
    counts["compensation.decision_recorded"] = await handle(decision)
    progress = status_changed(complaint_id, "cust-1", "acknowledged", "in_progress", now)
    counts["complaint.status_changed (no message)"] = await handle(progress)
    resolved = status_changed(complaint_id, "cust-1", "in_progress", "resolved", now)
    counts["complaint.status_changed (resolved)"] = await handle(resolved)
    counts["complaint.deadlines_changed"] = await handle(deadlines_changed(complaint_id, [], now))
    print(counts)  # the figures the throughput report quotes (-s)
    assert counts == {
        "compensation.granted (before the complaint)": 2,  # recorded, then no recipient to compose for
        "complaint.created": 3,
        "compensation.granted": 3,
        "compensation.decision_recorded": 1,
        "complaint.status_changed (no message)": 1,
        "complaint.status_changed (resolved)": 3,
        "complaint.deadlines_changed": 1,
    }
    found = await rows(
        runtime,
        "SELECT kind, status, channel, recipient, customer_id, client_id, subject IS NOT NULL AS has_subject"
        " FROM notifications.messages WHERE complaint_id = :c ORDER BY kind",
        c=complaint_id,
    )
    expected = {"kind": "", "status": "queued", "channel": "email", "recipient": "someone@example.com"}
    expected |= {"customer_id": "cust-1", "client_id": CLIENT, "has_subject": True}
    # The compensation recorded first was composed with the acknowledgement, in the same write.
    assert found == [
        expected | {"kind": "acknowledgement"},
        expected | {"kind": "compensation"},
        expected | {"kind": "compensation"},
        expected | {"kind": "resolved"},
    ]
    (recipient,) = await rows(
        runtime,
        "SELECT open, filed, last_told_at IS NOT NULL AS told FROM notifications.recipients"
        " WHERE complaint_id = :c",
        c=complaint_id,
    )
    assert recipient == {"open": False, "filed": True, "told": True}


async def test_an_event_handled_again_writes_nothing_twice(
    runtime: Runtime, deps: NotificationsDependencies, handle: Handle
) -> None:
    """As after a restore, past the inbox: the messages and pushes are keyed by the event's id."""
    complaint_id = uuid4()
    first = created(complaint_id)
    await handle(first)
    handlers = {s.contract.ce_type: s.handler for s in SERVICE.all_subscriptions(deps)}
    async with runtime.db.transaction() as session:
        await handlers[first.contract.ce_type](session, first)
    found = await rows(
        runtime, "SELECT kind, status FROM notifications.messages WHERE complaint_id = :c", c=complaint_id
    )
    assert found == [{"kind": "acknowledgement", "status": "queued"}]


async def subscribe(session: AsyncConnection, client_id: str, push_type: str) -> webhooks.SubscriptionRecord:
    """The client's CRM subscribed to `push_type`, as its admin would through the API."""
    return await webhooks.create(
        session,
        webhooks.SecretBox([]),
        client_id=client_id,
        url=f"https://{client_id}.example.com/hooks",
        event_types=[push_type],
        description=None,
        created_by="admin-1",
        secret=webhooks.new_secret(),
    )


async def test_a_grant_is_pushed_once_per_decision_in_the_statement_of_its_message(
    runtime: Runtime, deps: NotificationsDependencies, handle: Handle
) -> None:
    """A grant is announced by compensation.granted alone: its push (what its decision record
    pushed) is written with the customer's message, in the same statement; handled again, or with
    a decision record with status granted beside it (from before: an upgrade), it is not pushed twice."""
    async with runtime.db.transaction() as session:
        subscription = await subscribe(session, CLIENT, "compensation.granted")
    complaint_id = uuid4()
    await handle(created(complaint_id))
    grant = granted(complaint_id)
    assert await handle(grant) == 3, "recorded with its push; the recipient read; composed"
    data = grant.data
    old_record = decision_recorded(
        complaint_id,
        "cust-1",
        "granted",
        data.granted_at,
        decision_id=data.decision_id,
        offer=data.offer,
        rule_id=data.rule_id,
        decided_by=data.granted_by,
    )
    assert await handle(old_record) == 1, "its push is the grant's: written once"
    handlers = {s.contract.ce_type: s.handler for s in SERVICE.all_subscriptions(deps)}
    async with runtime.db.transaction() as session:
        await handlers[grant.contract.ce_type](session, grant)  # as after a restore, past the inbox
    pushed = await rows(
        runtime,
        "SELECT event_id, subscription_id, body::jsonb AS body FROM notifications.messages"
        " WHERE complaint_id = :c AND subscription_id IS NOT NULL",
        c=complaint_id,
    )
    assert [(p["event_id"], p["subscription_id"], p["body"]["type"]) for p in pushed] == [
        (f"grant:{data.decision_id}", subscription.id, "compensation.granted")
    ]
    assert pushed[0]["body"]["data"] == {
        "complaint_id": str(complaint_id),
        "decision_id": str(data.decision_id),
        "customer_id": "cust-1",
        "status": "granted",
        "offer": {
            "kind": "coupon",
            "description": "A coupon",
            "value": {"amount": "10.00", "currency": "EUR"},
        },
        "rule_id": "rule-1",
        "reason": None,
        "decided_by": "auto",
        "decided_at": data.granted_at.isoformat().replace("+00:00", "Z"),
    }
    told = await rows(
        runtime,
        "SELECT kind FROM notifications.messages WHERE complaint_id = :c AND subscription_id IS NULL"
        " ORDER BY kind",
        c=complaint_id,
    )
    assert told == [{"kind": "acknowledgement"}, {"kind": "compensation"}], "the customer told once"


async def test_a_push_goes_to_the_subscriptions_there_are_when_the_event_is_handled(
    database_url: str, runtime: Runtime, handle: Handle
) -> None:
    """No subscription is remembered between events: what another replica registers or removes
    through the API counts from the next event on."""
    other = await migrated_runtime(SERVICE, _settings(database_url))
    try:
        complaint_id, now = uuid4(), datetime.now(UTC)
        await handle(decision_recorded(complaint_id, "cust-1", "pending_approval", now))
        async with other.db.transaction() as session:
            chosen = await subscribe(session, CLIENT, "compensation.approval_waiting")
            await subscribe(session, "crm-other", "compensation.approval_waiting")
        second = decision_recorded(complaint_id, "cust-1", "pending_approval", now)
        await handle(second)
        async with other.db.transaction() as session:
            assert await webhooks.remove(session, CLIENT, chosen.id)
        await handle(decision_recorded(complaint_id, "cust-1", "pending_approval", now))
        pushed = await rows(
            runtime,
            "SELECT event_id, subscription_id, recipient, client_id, status, body::jsonb -> 'type' AS type"
            " FROM notifications.messages WHERE complaint_id = :c",
            c=complaint_id,
        )
        assert pushed == [
            {
                "event_id": second.id,
                "subscription_id": chosen.id,
                "recipient": str(chosen.id),
                "client_id": CLIENT,
                "status": "queued",
                "type": "compensation.approval_waiting",
            }
        ], "only while subscribed, and only to the event's own tenant"
    finally:
        await other.db.dispose()


async def test_a_batch_of_messages_is_claimed_in_one_statement_and_completed_in_two(
    runtime: Runtime, deps: NotificationsDependencies, handle: Handle
) -> None:
    complaints = [uuid4() for _ in range(3)]
    for complaint_id in complaints:
        await handle(created(complaint_id))
        await handle(granted(complaint_id))
    log = LogTransport()
    transports: dict[Channel, Transport] = {Channel.EMAIL: log, Channel.SMS: log, Channel.WEBHOOK: log}
    # The worker on a database whose one connection counts what it sends, BEGIN and COMMIT included.
    async with counted_database(runtime.db.url) as (db, sent):
        worker = DeliveryWorker(replace(deps, runtime=replace(runtime, db=db)), transports)
        assert await worker.deliver_due() == 6
        await asyncio.sleep(0)  # the driver's logger is called soon, not at once
    words = [statement.split()[0].upper().rstrip(";") for statement in sent]
    statements = [
        s for s, word in zip(sent, words, strict=True) if word not in ("BEGIN", "COMMIT", "ROLLBACK")
    ]
    transactions = words.count("BEGIN")
    print({"delivered batch of 6": (len(statements), transactions)})
    # The claim (with the attempts' log and the threads), the outcome, the status events.
    assert (len(statements), transactions) == (3, 2), sent
    attempts = await rows(
        runtime,
        "SELECT m.kind, m.status, a.outcome, a.transport, m.attempts = a.attempt AS current"
        " FROM notifications.messages m JOIN notifications.delivery_attempts a ON a.message_id = m.id"
        " WHERE m.complaint_id = ANY(:c)",
        c=complaints,
    )
    assert len(attempts) == 6
    assert {tuple(a.values()) for a in attempts} == {
        ("acknowledgement", "sent", "sent", "log", True),
        ("compensation", "sent", "sent", "log", True),
    }
    statuses = await rows(
        runtime,
        "SELECT payload ->> 'status' AS status FROM notifications.outbox"
        " WHERE type = 'complaints.notification.status.v1' AND (payload ->> 'complaint_id')::uuid = ANY(:c)",
        c=complaints,
    )
    assert statuses == [{"status": "sent"}] * 6


def created(complaint_id: UUID) -> Event[Any]:
    return complaint_created(complaint_id, "cust-1", contact={"language": "en"})


def granted(complaint_id: UUID) -> Event[Any]:
    return compensation_granted(complaint_id, "cust-1")
