"""The delivery statements read only the rows they touch, on a queue of realistic size: rows read
per statement (sequential tuples read plus tuples fetched through an index) counted by PostgreSQL
for the current transaction (`pg_stat_xact_user_tables`), on a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.db import driver
from complaints_common.runtime import Runtime
from complaints_devstack.service_testing import migrated_runtime
from complaints_devstack.service_testing import test_settings as service_settings
from complaints_notifications.main import SERVICE
from complaints_notifications.settings import NotificationSettings
from complaints_notifications.store.messages import Delivered, claim_due, finish_sent
from complaints_notifications.store.tables import WORKER_LOCK_SPACE

pytestmark = pytest.mark.integration

SENT_BEFORE = 5000
WAITING = 60
IN_FLIGHT = 20
DUE = 3
ALIVE = "a-live-worker"

# A queue that has worked a while: messages sent with their log, retries waiting for later, messages
# in flight with a live worker, and a few due now. ANALYZEd, as autovacuum keeps it.
_SEED = f"""
INSERT INTO notifications.messages (id, event_id, client_id, complaint_id, kind, channel, recipient, data,
    status, sent_at, attempts, next_attempt_at)
SELECT gen_random_uuid(), 'sent-' || g, 'crm', gen_random_uuid(), 'acknowledgement', 'email', 'x',
    '{{}}'::jsonb,
    'sent', now(), 1, now() - interval '1 day'
FROM generate_series(1, {SENT_BEFORE}) g;
INSERT INTO notifications.messages (id, event_id, client_id, complaint_id, kind, channel, recipient, data,
    status, attempts, next_attempt_at, lease_until, claimed_by)
SELECT gen_random_uuid(), 'later-' || g, 'crm', gen_random_uuid(), 'acknowledgement', 'sms', 'x',
    '{{}}'::jsonb,
    'queued', 1, now() + interval '1 hour', NULL, NULL
FROM generate_series(1, {WAITING}) g
UNION ALL
SELECT gen_random_uuid(), 'flying-' || g, 'crm', gen_random_uuid(), 'acknowledgement', 'sms', 'x',
    '{{}}'::jsonb,
    'sending', 1, now() - interval '1 minute', now() + interval '1 hour', '{ALIVE}'
FROM generate_series(1, {IN_FLIGHT}) g
UNION ALL
SELECT gen_random_uuid(), 'due-' || g, 'crm', gen_random_uuid(), 'acknowledgement', 'email', 'x',
    '{{}}'::jsonb,
    'queued', 0, now() - interval '1 second', NULL, NULL
FROM generate_series(1, {DUE}) g;
INSERT INTO notifications.delivery_attempts (message_id, attempt, transport, outcome)
SELECT id, 1, 'smtp', CASE status WHEN 'sent' THEN 'sent' WHEN 'queued' THEN 'retry' ELSE 'in_flight' END
FROM notifications.messages WHERE attempts = 1;
ANALYZE notifications.messages;
ANALYZE notifications.delivery_attempts;
"""

_READ = """SELECT relname, seq_tup_read + coalesce(idx_tup_fetch, 0) AS read
    FROM pg_stat_xact_user_tables WHERE schemaname = 'notifications'
        AND relname IN ('messages', 'delivery_attempts')"""


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    settings = service_settings(NotificationSettings, database_url, "127.0.0.1:1", "")
    rt = await migrated_runtime(SERVICE, settings)
    async with rt.db.transaction() as session:
        await (await driver(session)).execute(_SEED)
    yield rt
    await rt.db.dispose()


async def rows_read(session: AsyncConnection, work: Any) -> tuple[Any, dict[str, int]]:
    """What `work()` returned and the rows it read per table, in this transaction."""
    conn = await driver(session)
    before = {row["relname"]: row["read"] for row in await conn.fetch(_READ)}
    result = await work()
    after = {row["relname"]: row["read"] for row in await conn.fetch(_READ)}
    return result, {name: after[name] - before.get(name, 0) for name in after}


async def test_a_claim_and_its_completion_read_only_the_messages_and_attempts_they_touch(
    runtime: Runtime,
) -> None:
    transports = {"email": "smtp", "sms": "http"}
    # The in-flight messages' worker is alive: it holds its liveness lock.
    async with runtime.db.engine.connect() as alive:
        await alive.exec_driver_sql(f"SELECT pg_advisory_lock({WORKER_LOCK_SPACE}, hashtext('{ALIVE}'))")
        async with runtime.db.transaction() as session:
            now = datetime.now(UTC)
            claimed, read = await rows_read(
                session, lambda: claim_due(session, now, 10, 60, "me", transports)
            )
        await alive.rollback()
    assert sorted(c.message.event_id for c in claimed) == [f"due-{n}" for n in range(1, DUE + 1)]
    assert all(c.attempt == 1 and c.attempt_id is not None for c in claimed)
    # The due messages, found, updated and their e-mail threads looked up; every live worker's
    # message checked for its lock (its sender might be dead). Not the retries waiting for later,
    # nor the messages sent long ago.
    assert read["messages"] <= 3 * DUE + IN_FLIGHT, read
    assert read["delivery_attempts"] <= DUE, read

    async with runtime.db.transaction() as session:
        done = [Delivered(c.message.id, c.attempt, c.attempt_id, "ref", now) for c in claimed]
        _, read = await rows_read(session, lambda: finish_sent(session, done))
    assert read == {"messages": DUE, "delivery_attempts": DUE}
    async with runtime.db.transaction() as session:
        outcomes = await (await driver(session)).fetch(
            "SELECT m.status, a.outcome, a.provider_reference FROM notifications.messages m"
            " JOIN notifications.delivery_attempts a ON a.message_id = m.id WHERE m.event_id LIKE 'due-%'"
        )
    assert [tuple(row.values()) for row in outcomes] == [("sent", "sent", "ref")] * DUE
