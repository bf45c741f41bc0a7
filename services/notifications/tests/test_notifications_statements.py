"""The work per handled event and per delivered message, counted in statements sent to PostgreSQL
(real server, no broker: events handed to the handlers as the consumer would), with what those
statements wrote: several messages composed in one write, pushes to exactly the subscriptions that
exist when the event is handled, whichever replica registered or removed them, a delivery claimed
and completed with its log in one statement each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from sqlalchemy import event, text
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
from complaints_devstack.service_testing import migrated_runtime
from complaints_devstack.service_testing import test_settings as service_settings
from complaints_notifications.application.delivery import DeliveryWorker
from complaints_notifications.channels.log import LogTransport
from complaints_notifications.dependencies import NotificationsDependencies
from complaints_notifications.domain.messages import Channel
from complaints_notifications.main import SERVICE
from complaints_notifications.settings import NotificationSettings
from complaints_notifications.store import webhooks

pytestmark = pytest.mark.integration


class Statements:
    """What is sent to PostgreSQL: SQLAlchemy's statements and the driver's, BEGIN and COMMIT
    apart (the consumer's, once per batch of records)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.transactions = 0

    def driver_query(self, logged: Any) -> None:
        word = logged.query.split()[0].upper().rstrip(";")
        if word == "BEGIN":
            self.transactions += 1
        elif word not in ("COMMIT", "ROLLBACK") and not _introspection(logged.query):
            self.sent.append(logged.query)

    def sqlalchemy_statement(self, *args: Any) -> None:
        statement, executemany = args[2], args[5]
        if not executemany:  # the driver logs SQLAlchemy's executemany itself
            self.sent.append(statement)

    @contextmanager
    def on(self, session: AsyncConnection, raw: asyncpg.Connection) -> Iterator[None]:
        """Count what `session` sends (its raw connection `raw`) in the block."""
        connection = session.sync_connection
        assert connection is not None
        event.listen(connection, "before_cursor_execute", self.sqlalchemy_statement)
        raw.add_query_logger(self.driver_query)
        try:
            yield
        finally:
            raw.remove_query_logger(self.driver_query)
            event.remove(connection, "before_cursor_execute", self.sqlalchemy_statement)

    @contextmanager
    def everywhere(self, rt: Runtime) -> Iterator[None]:
        """Count what every connection of the runtime's pool sends in the block."""
        engine, pool = rt.db.engine.sync_engine, rt.db.engine.sync_engine.pool
        logging: list[asyncpg.Connection] = []

        def checked_out(dbapi_connection: Any, *_: Any) -> None:
            raw = dbapi_connection.driver_connection
            raw.add_query_logger(self.driver_query)
            logging.append(raw)

        event.listen(engine, "before_cursor_execute", self.sqlalchemy_statement)
        event.listen(pool, "checkout", checked_out)
        try:
            yield
        finally:
            event.remove(pool, "checkout", checked_out)
            event.remove(engine, "before_cursor_execute", self.sqlalchemy_statement)
            for raw in logging:
                raw.remove_query_logger(self.driver_query)


def _introspection(query: str) -> bool:
    """asyncpg's look-up of a type it has not met on this connection yet (once per connection)."""
    return "typeinfo_tree" in query or "'jit'" in query


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
def handle(runtime: Runtime, deps: NotificationsDependencies) -> Handle:
    """`await handle(event)`: the event handed to its handler in its inbox transaction, as the
    consumer does; the number of statements the handler sent."""
    handlers = {s.contract.ce_type: s.handler for s in SERVICE.all_subscriptions(deps)}

    async def handled(event_: Event[Any]) -> int:
        counted = Statements()
        async with runtime.db.transaction() as session:
            topic = event_.contract.topic.name
            assert await runtime.inbox.claim(session, SERVICE.name, event_.id, topic)
            raw = (await session.get_raw_connection()).driver_connection
            with counted.on(session, raw):
                await handlers[event_.contract.ce_type](session, event_)
        return len(counted.sent)

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


async def test_a_push_goes_to_the_subscriptions_there_are_when_the_event_is_handled(
    database_url: str, runtime: Runtime, handle: Handle
) -> None:
    """No subscription is remembered between events: what another replica registers or removes
    through the API counts from the next event on."""
    other = await migrated_runtime(SERVICE, _settings(database_url))
    box = webhooks.SecretBox([])
    try:
        complaint_id, now = uuid4(), datetime.now(UTC)
        await handle(decision_recorded(complaint_id, "cust-1", "pending_approval", now))
        async with other.db.transaction() as session:
            chosen = await webhooks.create(
                session,
                box,
                client_id=CLIENT,
                url="https://crm.example.com/hooks",
                event_types=["compensation.approval_waiting"],
                description=None,
                created_by="admin-1",
                secret=webhooks.new_secret(),
            )
            await webhooks.create(
                session,
                box,
                client_id="crm-other",
                url="https://other.example.com/hooks",
                event_types=["compensation.approval_waiting"],
                description=None,
                created_by="admin-2",
                secret=webhooks.new_secret(),
            )
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
    worker = DeliveryWorker(deps, {Channel.EMAIL: log, Channel.SMS: log, Channel.WEBHOOK: log})
    counted = Statements()
    with counted.everywhere(runtime):
        assert await worker.deliver_due() == 6
    print({"delivered batch of 6": (len(counted.sent), counted.transactions)})
    # The claim (with the attempts' log and the threads), the outcome, the status events.
    assert (len(counted.sent), counted.transactions) == (3, 2), counted.sent
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
