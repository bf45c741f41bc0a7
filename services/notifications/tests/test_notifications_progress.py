"""Every message names its next contact from the complaint's own due times, and a complaint that
waits past the progress interval gets a progress update, once per silent interval (in-process on
real PostgreSQL and Kafka)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import text as sql

from complaints_common.events.contracts import ComplaintCreatedV1, ComplaintStatusChangedV1
from complaints_common.events.envelope import COMPLAINT_CREATED_V1, COMPLAINT_STATUS_CHANGED_V1, Event
from complaints_notifications.application.progress import send_progress_updates
from complaints_notifications.domain.messages import (
    MessageKind,
    Owner,
    Recipient,
    next_contact,
    template_variables,
)

from .test_notifications_delivery import eventually, messages, notifications, publish

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_the_next_contact_is_the_earliest_open_due_time_ahead_within_the_interval() -> None:
    week = timedelta(days=3)
    deadlines = [
        {"name": "acknowledge", "due_at": (NOW - timedelta(hours=1)).isoformat()},  # past
        {
            "name": "first_response",
            "due_at": (NOW + timedelta(days=1)).isoformat(),
            "met_at": NOW.isoformat(),
        },
        {"name": "target", "due_at": (NOW + timedelta(hours=5)).isoformat(), "breach": False},
        {"name": "final_response", "due_at": (NOW + timedelta(days=2)).isoformat()},
    ]
    assert next_contact(deadlines, NOW, week) == "2026-12-03"
    assert next_contact([{"name": "final_response", "due_at": "2027-01-26T12:00:00+00:00"}], NOW, week) == (
        "2026-12-04"
    ), "never later than the progress interval: the progress update keeps that promise"
    assert next_contact([], NOW, week) == "2026-12-04"


async def test_a_waiting_complaint_gets_a_progress_update_naming_owner_and_date_once_per_interval(
    database_url: str, kafka_bootstrap: str, topics: str
) -> None:
    async with notifications(database_url, kafka_bootstrap, topics, progress_check_interval_s=3600) as (
        app,
        client,
    ):
        complaint_id, resolved_id = uuid4(), uuid4()
        due = datetime.now(UTC) + timedelta(days=2)

        def created(cid: object) -> Event[ComplaintCreatedV1]:
            data = ComplaintCreatedV1.model_validate(
                {
                    "complaint_id": cid,
                    "reference": "CMP-PROG-0001",
                    "client_id": "crm-test",
                    "customer": {"customer_id": "CUST-P", "email": "p@example.com", "language": "ru"},
                    "channel": "web",
                    "category": "billing",
                    "severity": "medium",
                    "filed_at": datetime.now(UTC),
                    "deadlines": [{"name": "final_response", "due_at": due, "kind": "statutory"}],
                }
            )
            return Event(COMPLAINT_CREATED_V1, data, "/complaints/intake")

        resolved = ComplaintStatusChangedV1.model_validate(
            {
                "complaint_id": resolved_id,
                "client_id": "crm-test",
                "customer_id": "CUST-P",
                "from_status": "received",
                "to_status": "resolved",
                "actor": "agent-1",
                "changed_at": datetime.now(UTC),
            }
        )
        await publish(app, created(complaint_id), created(resolved_id))
        await publish(app, Event(COMPLAINT_STATUS_CHANGED_V1, resolved, "/complaints/intake"))

        def acknowledged(cid: object) -> Callable[[], Awaitable[list[dict[str, object]] | None]]:
            async def check() -> list[dict[str, object]] | None:
                found = await messages(client, cid)
                return found if any(m["kind"] == "acknowledgement" and m["body"] for m in found) else None

            return check

        first = await eventually(acknowledged(complaint_id))
        assert first, "no acknowledgement"
        # The two topics are consumed side by side: the resolved one's acknowledgement may come
        # after its status change.
        assert await eventually(acknowledged(resolved_id)), "no acknowledgement of the resolved one"
        body = str(first[0]["body"])
        assert "care@example.com" in body and f"не позднее {due.date().isoformat()}" in body
        assert await eventually(lambda: _resolved_recorded(app, resolved_id))

        deps = app.state.dependencies
        assert await send_progress_updates(deps) == 0, "told just now: nothing to say yet"
        later = datetime.now(UTC) + timedelta(hours=73)
        assert await send_progress_updates(deps, later) == 1, "only the open one"
        assert await send_progress_updates(deps) == 0, "told now: the interval starts again"
        update = next(m for m in await messages(client, complaint_id) if m["kind"] == "progress_update")
        text = str(update["body"])
        assert "ещё открыта" in text and "care@example.com" in text and "+44 20 7946 0000" in text
        assert due.date().isoformat() in text, "the next contact from the complaint's own due time"
        told = sorted(m["kind"] for m in await messages(client, resolved_id))
        assert told == ["acknowledgement", "resolved"], "a resolved complaint waits for nothing"
        assert await send_progress_updates(deps, later) == 1, "silent a second interval: again"
        kinds = [m["kind"] for m in await messages(client, complaint_id)]
        assert kinds.count("progress_update") == 2


async def _resolved_recorded(app: object, complaint_id: object) -> bool:
    async with app.state.runtime.db.transaction() as session:  # type: ignore[attr-defined]
        row = (
            await session.execute(
                sql("SELECT open FROM notifications.recipients WHERE complaint_id = :c"), {"c": complaint_id}
            )
        ).first()
    return row is not None and row.open is False


def test_once_escalated_every_later_message_names_a_supervisor_as_its_owner() -> None:
    owner = Owner("care@example.com", "+44 20 7946 0000")
    contact = {"email": "a@example.com", "language": "en"}
    plain = Recipient("CUST-1", "crm-test", "CMP-1", False, contact)
    escalated = Recipient("CUST-1", "crm-test", "CMP-1", False, contact, escalated=True)
    for kind in (MessageKind.PROGRESS_UPDATE, MessageKind.RESOLVED):
        assert not template_variables(kind, plain, {}, "https://s/{reference}", owner, "2026-12-04")[
            "supervisor"
        ]
        assert template_variables(kind, escalated, {}, "https://s/{reference}", owner, "2026-12-04")[
            "supervisor"
        ]
    assert template_variables(MessageKind.ESCALATED, plain, {}, "", owner, "2026-12-04")["supervisor"]
