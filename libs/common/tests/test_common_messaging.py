"""The outbox row and the relay's wake-up trigger, without a database."""

from __future__ import annotations

import json
from uuid import UUID

from opentelemetry.sdk.trace import TracerProvider

from complaints_common.db import asyncpg_dsn, schema_metadata
from complaints_common.events.contracts import ComplaintCreatedV1
from complaints_common.events.envelope import Event
from complaints_common.messaging import (
    Inbox,
    Outbox,
    drop_notify_trigger_ddl,
    inbox_table,
    notify_channel,
    notify_trigger_ddl,
    outbox_table,
)
from complaints_devstack.factories import complaint_created


def event() -> Event[ComplaintCreatedV1]:
    return complaint_created(source="/complaints/test")


def test_an_outbox_row_has_the_debezium_router_columns() -> None:
    e = event()
    row = Outbox(schema_metadata("test")).row(e)
    assert row["id"] == UUID(e.id)
    assert row["aggregatetype"] == "complaint"
    assert row["aggregateid"] == e.subject
    assert row["type"] == "complaints.complaint.created.v1"
    assert row["topic"] == "complaint.created", "the unprefixed name; the relay applies the prefix"
    assert json.loads(row["payload"]) == json.loads(e.payload_json())
    assert row["headers"] == e.ce_headers(), "no trace context is captured outside a span"


def test_an_outbox_row_written_in_a_span_captures_its_trace_context() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("write") as span:
        row = Outbox(schema_metadata("test")).row(event())
    ctx = span.get_span_context()
    assert row["headers"]["traceparent"].startswith(f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-")


def test_tables_live_in_the_service_schema_and_are_shared_by_outbox_and_inbox() -> None:
    metadata = schema_metadata("svc")
    outbox = outbox_table(metadata)
    inbox = inbox_table(metadata)
    assert outbox.fullname == "svc.outbox"
    assert inbox.fullname == "svc.inbox"
    assert Outbox(metadata).table is outbox
    assert Inbox(metadata).table is inbox
    assert [c.name for c in inbox.primary_key] == ["consumer_group", "message_id"]
    assert {"id", "aggregatetype", "aggregateid", "type", "payload"} <= set(outbox.c.keys())


def test_outbox_and_inbox_create_their_tables_when_missing() -> None:
    metadata = schema_metadata("other")
    assert Outbox(metadata).table.fullname == "other.outbox"
    assert Inbox(metadata).table.fullname == "other.inbox"


def test_the_notify_trigger_uses_the_service_channel() -> None:
    assert notify_channel("intake") == "intake_outbox"
    create = "\n".join(notify_trigger_ddl("intake"))
    assert "pg_notify('intake_outbox'" in create
    assert 'AFTER INSERT ON "intake".outbox' in create
    drop = "\n".join(drop_notify_trigger_ddl("intake"))
    assert "DROP TRIGGER IF EXISTS outbox_notify" in drop


def test_asyncpg_dsn_drops_the_driver_name() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://u:p@h:5/db") == "postgresql://u:p@h:5/db"
