"""The transactional outbox and the inbox, shaped as PLATFORM.md describes.

Outbox columns follow Debezium's outbox router (`id`, `aggregatetype`, `aggregateid`, `type`,
`payload`) plus the topic, the headers captured at write time (CloudEvents attributes and the W3C
trace context of the writing transaction), and the relay's bookkeeping. The inbox is keyed by
(consumer group, message id) and written in the handler's transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry import propagate
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.db import driver
from complaints_common.events.envelope import Event, EventContract

AGGREGATE_TYPE = "complaint"


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", UUID(as_uuid=True), primary_key=True),
        Column("seq", BigInteger, Identity(always=True), nullable=False, unique=True),
        Column("aggregatetype", Text, nullable=False),
        Column("aggregateid", Text, nullable=False),
        Column("type", Text, nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("topic", Text, nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text),
        Index("ix_outbox_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
        Index("ix_outbox_created_at", "created_at"),
    )


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer_group", Text, primary_key=True),
        Column("message_id", Text, primary_key=True),
        Column("topic", Text, nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index("ix_inbox_received_at", "received_at"),
    )


def notify_channel(schema: str) -> str:
    return f"{schema}_outbox"


def notify_trigger_ddl(schema: str) -> list[str]:
    """The trigger that wakes the relay: one NOTIFY per inserting statement, delivered at commit
    (PostgreSQL folds duplicates within a transaction). Each service's first migration runs it.
    """
    return [
        f"""CREATE FUNCTION "{schema}".outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('{notify_channel(schema)}', ''); RETURN NULL; END $$""",
        f"""CREATE TRIGGER outbox_notify AFTER INSERT ON "{schema}".outbox
        FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".outbox_notify()""",
    ]


def drop_notify_trigger_ddl(schema: str) -> list[str]:
    return [
        f'DROP TRIGGER IF EXISTS outbox_notify ON "{schema}".outbox',
        f'DROP FUNCTION IF EXISTS "{schema}".outbox_notify()',
    ]


def _table(metadata: MetaData, name: str, factory: Callable[[MetaData], Table]) -> Table:
    key = f"{metadata.schema}.{name}"
    return metadata.tables[key] if key in metadata.tables else factory(metadata)


# The columns an event's outbox row fills (the others are the relay's, with defaults), in the
# order of `outbox_values`.
OUTBOX_COLUMNS = ("id", "aggregatetype", "aggregateid", "type", "payload", "topic", "headers")


def outbox_values(row: dict[str, Any]) -> tuple[Any, ...]:
    """A row built by `Outbox.row` as a statement's values, in the order of OUTBOX_COLUMNS: for a
    service that writes its event in a statement of its own (intake's filing)."""
    return (
        row["id"],
        row["aggregatetype"],
        row["aggregateid"],
        row["type"],
        row["payload"],
        row["topic"],
        json.dumps(row["headers"]),
    )


class Outbox:
    """Writes events in the caller's transaction; the relay sends them after commit."""

    def __init__(self, metadata: MetaData, publishes: Iterable[EventContract[Any]] | None = None) -> None:
        """`publishes`: the contracts this service declares it publishes; None accepts any (tests)."""
        self.table = _table(metadata, "outbox", outbox_table)
        self.publishes = None if publishes is None else frozenset(c.ce_type for c in publishes)
        # Straight to the driver: one outbox row per event makes this one of the hottest statements.
        self._insert = (
            f'INSERT INTO "{metadata.schema}".outbox ({", ".join(OUTBOX_COLUMNS)}) '
            "VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )

    async def add(self, session: AsyncConnection, *events: Event[Any]) -> None:
        await self.insert(session, [self.row(event) for event in events])

    async def insert(self, session: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        """Insert rows built by `row`, in the session's transaction."""
        if not rows:
            return
        values = [outbox_values(row) for row in rows]
        connection = await driver(session)
        if len(values) == 1:
            await connection.execute(self._insert, *values[0])
        else:
            await connection.executemany(self._insert, values)

    def row(self, event: Event[Any]) -> dict[str, Any]:
        """The outbox row of an event (payload as JSON text), with the trace context current *now*:
        build it inside the span the event belongs to (a timer firing days later builds it in the
        scheduling trace)."""
        if self.publishes is not None and event.contract.ce_type not in self.publishes:
            raise ValueError(f"{event.contract.ce_type} is not among the events this service publishes")
        headers = event.ce_headers()
        # The trace context of the writing transaction, so the relay continues this trace.
        propagate.inject(headers)
        return {
            "id": uuid.UUID(event.id),
            "aggregatetype": AGGREGATE_TYPE,
            "aggregateid": event.subject,
            "type": event.contract.ce_type,
            "payload": event.payload_json(),
            "topic": event.contract.topic.name,
            "headers": headers,
        }


class Inbox:
    """Remembers which messages a consumer group has already applied."""

    def __init__(self, metadata: MetaData) -> None:
        self.table = _table(metadata, "inbox", inbox_table)
        # Straight to the driver: every consumed message runs it.
        self._claim = (
            f'INSERT INTO "{metadata.schema}".inbox (consumer_group, message_id, topic) '
            "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true"
        )
        # The claim of a batch first takes a transaction-level advisory lock on each of its
        # subjects (complaint ids), in one global order (by key), before any inbox row is written:
        # the uncorrelated subquery is a one-time filter, evaluated before the first row. Two
        # batches that share complaints (records of two topics) then never hold row locks of the
        # same complaints at once, so they cannot deadlock however their handlers order their
        # writes; the second waits for the first's commit. The key is 64-bit and names the group,
        # apart from every other advisory lock of the platform.
        self._claim_many = (
            f'INSERT INTO "{metadata.schema}".inbox (consumer_group, message_id, topic) '
            "SELECT $1, m.id, m.topic FROM unnest($2::text[], $3::text[]) AS m(id, topic) "
            "WHERE (SELECT count(pg_advisory_xact_lock(k)) FROM "
            "(SELECT DISTINCT hashtextextended('inbox:' || $1::text || ':' || s, 0) AS k "
            "FROM unnest($4::text[]) AS s ORDER BY k) AS keys) >= 0 "
            "ON CONFLICT DO NOTHING RETURNING message_id"
        )

    async def claim(self, session: AsyncConnection, group: str, message_id: str, topic: str) -> bool:
        """True the first time a message is seen; False for a redelivery (then do nothing)."""
        connection = await driver(session)
        return bool(await connection.fetchval(self._claim, group, message_id, topic))

    async def claim_many(
        self,
        session: AsyncConnection,
        group: str,
        messages: Sequence[tuple[str, str]],
        subjects: Iterable[str] = (),
    ) -> set[str]:
        """Claim (message id, topic) pairs in one statement; the ids seen for the first time.

        `subjects`: the complaints the transaction will write to, locked (advisory, until the
        transaction ends) in one global order before anything is claimed."""
        connection = await driver(session)
        rows = await connection.fetch(
            self._claim_many, group, [m for m, _ in messages], [t for _, t in messages], list(subjects)
        )
        return {row["message_id"] for row in rows}
