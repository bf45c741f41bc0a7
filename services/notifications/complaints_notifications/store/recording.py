"""What a consumed event writes, in as few statements as the compose lock allows:

1. one statement takes the complaint's compose lock and writes everything the event brings (the
   recipient or its state, the messages it asks for, the push to the client's subscriptions);
2. one reads the recipient with the complaint's messages awaiting it (a later statement than the
   lock, so that it sees what a transaction that held the lock before committed: see `lock_complaint`);
3. one writes what composing made of them.

The lock comes first inside statement 1 (its writes read from it), as the progress loop takes it
before the recipient's row.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.telemetry import current_trace_context
from complaints_notifications.domain.messages import Recipient
from complaints_notifications.store.messages import (
    AWAITING_RECIPIENT,
    QUEUED,
    Composed,
    MessageRecord,
    message_of,
)
from complaints_notifications.store.sql import Statement, columns, json_text
from complaints_notifications.store.tables import COMPOSE_LOCK_SPACE, SCHEMA, messages

MESSAGES = f"{SCHEMA}.messages"
RECIPIENTS = f"{SCHEMA}.recipients"
SUBSCRIPTIONS = f"{SCHEMA}.webhook_subscriptions"


@dataclass(frozen=True, slots=True)
class Filed:
    """The complaint's recipient, from complaint.created."""

    customer_id: str
    reference: str
    contact_json: str
    confidential: bool
    deadlines_json: str
    told_at: datetime


@dataclass(frozen=True, slots=True)
class State:
    """A status or due-time change; the open flag and escalation level only from a status change."""

    customer_id: str
    deadlines_json: str
    open: bool | None = None
    escalation_level: int | None = None


@dataclass(frozen=True, slots=True)
class Push:
    """A push to each of the client's subscriptions to `kind`, its body written already; once per
    `event_id` (and kind, and subscription), whatever the redelivery."""

    event_id: str
    kind: str
    body: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Asked:
    """The messages an event asks for: `kind` once per subscription (None: to the customer, or for
    a call-back task to the operator-configured webhook), with the event's data as JSON text."""

    kind: str
    data_json: str
    subscriptions: Sequence[UUID | None] = (None,)


_LOCKED = f"""locked AS MATERIALIZED (
    SELECT pg_advisory_xact_lock({COMPOSE_LOCK_SPACE}, hashtext(:complaint::uuid::text)))"""
# Where a later event's state came first, its due times and open flag are kept (they are newer).
_FILED = f"""filed AS (
    INSERT INTO {RECIPIENTS} AS r
        (complaint_id, customer_id, reference, contact, confidential, client_id, deadlines,
        last_told_at, filed)
    SELECT :complaint::uuid, :customer::text, :reference::text, :contact::jsonb, :confidential::bool,
        :client::text, :deadlines::jsonb, :told_at::timestamptz, true
    FROM locked
    ON CONFLICT (complaint_id) DO UPDATE SET customer_id = excluded.customer_id,
        reference = excluded.reference, contact = excluded.contact, confidential = excluded.confidential,
        client_id = excluded.client_id, last_told_at = excluded.last_told_at, filed = true
    WHERE NOT r.filed)"""
# A placeholder until complaint.created arrives (the events travel on different topics), else the
# state it carries on the recipient.
_STATE = f"""state AS (
    INSERT INTO {RECIPIENTS}
        (complaint_id, client_id, customer_id, reference, contact, confidential, filed, {{columns}})
    SELECT :complaint::uuid, :client::text, :customer::text, '', '{{{{}}}}'::jsonb, false, false, {{values}}
    FROM locked
    ON CONFLICT (complaint_id) DO UPDATE SET {{updates}})"""
_STATE_TYPES = {"deadlines": "jsonb", "open": "bool", "escalation_level": "int"}
_ASKED = f"""asked AS (
    INSERT INTO {MESSAGES}
        (id, event_id, client_id, complaint_id, kind, channel, data, trace_context, status, subscription_id)
    SELECT gen_random_uuid(), :event::text, :client::text, :complaint::uuid, :kind::text, 'pending',
        :data::jsonb, :trace::jsonb, '{AWAITING_RECIPIENT}', a.subscription_id
    FROM locked, unnest(:subscriptions::uuid[]) AS a(subscription_id)
    ON CONFLICT DO NOTHING)"""
_PUSHED = f"""pushed AS (
    INSERT INTO {MESSAGES} (id, event_id, client_id, complaint_id, kind, channel, recipient,
        subscription_id, body, data, trace_context, status, next_attempt_at)
    SELECT gen_random_uuid(), :push_event::text, s.client_id, :complaint::uuid, :push_kind::text,
        'webhook', s.id::text, s.id, :push_body::text, '{{}}'::jsonb, :trace::jsonb, '{QUEUED}',
        :push_at::timestamptz
    FROM {SUBSCRIPTIONS} s
    WHERE s.client_id = :client::text AND :push_kind::text = ANY (s.event_types)
    ON CONFLICT DO NOTHING)"""


@functools.cache
def _recording(filed: bool, state: tuple[str, ...], asked: bool, push: bool) -> Statement:
    """The one statement for the parts an event brings, built once per shape."""
    assert not (filed and state), "the recipient's row is written once per statement"
    parts = []
    if filed or state or asked:
        parts.append(_LOCKED)
    if filed:
        parts.append(_FILED)
    if state:
        parts.append(
            _STATE.format(
                columns=", ".join(state),
                values=", ".join(f":{column}::{_STATE_TYPES[column]}" for column in state),
                updates=", ".join(f"{column} = excluded.{column}" for column in state),
            )
        )
    if asked:
        parts.append(_ASKED)
    if push:
        parts.append(_PUSHED)
    return Statement(f"WITH {', '.join(parts)} SELECT 1")


async def record(
    session: AsyncConnection,
    *,
    event_id: str,
    client_id: str | None,
    complaint_id: UUID | None,
    filed: Filed | None = None,
    state: State | None = None,
    asked: Asked | None = None,
    push: Push | None = None,
) -> None:
    """Write what an event brings in one statement, under the complaint's compose lock when it
    brings anything to compose (a push alone needs none)."""
    values: dict[str, Any] = {
        "complaint": complaint_id,
        "client": client_id,
        "event": event_id,
        "trace": json_text(current_trace_context()),
    }
    state_columns: tuple[str, ...] = ()
    if filed is not None:
        values |= {
            "customer": filed.customer_id,
            "reference": filed.reference,
            "contact": filed.contact_json,
            "confidential": filed.confidential,
            "deadlines": filed.deadlines_json,
            "told_at": filed.told_at,
        }
    if state is not None:
        optional = {"open": state.open, "escalation_level": state.escalation_level}
        given = {column: value for column, value in optional.items() if value is not None}
        values |= {"customer": state.customer_id, "deadlines": state.deadlines_json, **given}
        state_columns = ("deadlines", *given)
    if asked is not None:
        values |= {"kind": asked.kind, "data": asked.data_json, "subscriptions": list(asked.subscriptions)}
    if push is not None:
        values |= {
            "push_event": push.event_id,
            "push_kind": push.kind,
            "push_body": push.body,
            "push_at": push.at,
        }
    statement = _recording(filed is not None, state_columns, asked is not None, push is not None)
    await statement.execute(session, values)


# The recipient's columns, named apart from the messages' own.
_RECIPIENT_COLUMNS = ", ".join(
    f"r.{column} AS r_{column}"
    for column in (
        "customer_id",
        "client_id",
        "reference",
        "confidential",
        "contact",
        "deadlines",
        "escalation_level",
    )
)
_AWAITING = Statement(
    f"""SELECT {_RECIPIENT_COLUMNS}, {columns(messages.c, "m")}
    FROM {RECIPIENTS} r
    LEFT JOIN LATERAL (
        SELECT * FROM {MESSAGES}
        WHERE complaint_id = r.complaint_id AND status = '{AWAITING_RECIPIENT}'
        ORDER BY created_at
        FOR UPDATE
    ) m ON true
    WHERE r.complaint_id = :complaint::uuid AND r.filed
    ORDER BY m.created_at"""
)


_RECIPIENT = Statement(
    f"""SELECT {_RECIPIENT_COLUMNS} FROM {RECIPIENTS} r
    WHERE r.complaint_id = :complaint::uuid AND r.filed"""
)


def _recipient(row: Mapping[str, Any]) -> Recipient:
    return Recipient(
        customer_id=row["r_customer_id"],
        client_id=row["r_client_id"],
        reference=row["r_reference"],
        confidential=row["r_confidential"],
        contact=dict(row["r_contact"]),
        deadlines=tuple(row["r_deadlines"] or ()),
        escalated=row["r_escalation_level"] > 0,
    )


async def recipient_of(session: AsyncConnection, complaint_id: UUID) -> Recipient | None:
    """The complaint's recipient once filed."""
    rows = await _RECIPIENT.fetch(session, {"complaint": complaint_id})
    return _recipient(rows[0]) if rows else None


async def awaiting(
    session: AsyncConnection, complaint_id: UUID
) -> tuple[Recipient | None, list[MessageRecord]]:
    """The complaint's recipient once filed, and its messages awaiting it (locked), oldest first."""
    rows = await _AWAITING.fetch(session, {"complaint": complaint_id})
    if not rows:
        return None, []
    return _recipient(rows[0]), [message_of(row) for row in rows if row["id"] is not None]


# The customer heard from us (told_at): the progress interval starts again.
_COMPOSED = Statement(
    f"""WITH told AS (
        UPDATE {RECIPIENTS} SET last_told_at = :told_at::timestamptz
        WHERE complaint_id = :complaint::uuid AND :told_at::timestamptz IS NOT NULL)
    UPDATE {MESSAGES} m SET channel = c.channel, recipient = c.recipient, customer_id = c.customer_id,
        client_id = c.client_id, status = c.status, subject = c.subject, body = c.body, html = c.html,
        language = c.language, next_attempt_at = c.next_attempt_at, last_error = c.last_error
    FROM unnest(:ids::uuid[], :channels::text[], :recipients::text[], :customers::text[],
        :clients::text[], :statuses::text[], :subjects::text[], :bodies::text[], :htmls::text[],
        :languages::text[], :next_attempts::timestamptz[], :errors::text[])
        AS c(id, channel, recipient, customer_id, client_id, status, subject, body, html, language,
            next_attempt_at, last_error)
    WHERE m.id = c.id"""
)


async def set_composed(
    session: AsyncConnection,
    complaint_id: UUID,
    composed: Sequence[tuple[UUID, Composed]],
    told_at: datetime | None,
) -> None:
    """What composing made of the messages (rendered, or found unreachable), in one statement, and
    when the customer was last told, if any of them tells them something."""
    done = [c for _, c in composed]
    await _COMPOSED.execute(
        session,
        {
            "complaint": complaint_id,
            "told_at": told_at,
            "ids": [message_id for message_id, _ in composed],
            "channels": [c.channel for c in done],
            "recipients": [c.recipient for c in done],
            "customers": [c.customer_id for c in done],
            "clients": [c.client_id for c in done],
            "statuses": [c.status for c in done],
            "subjects": [c.subject for c in done],
            "bodies": [c.body for c in done],
            "htmls": [c.html for c in done],
            "languages": [c.language for c in done],
            "next_attempts": [c.next_attempt_at for c in done],
            "errors": [c.last_error for c in done],
        },
    )
