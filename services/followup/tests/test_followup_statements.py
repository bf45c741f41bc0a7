"""How many statements follow-up sends per handled event and per timer batch (issue 14: less work
per complaint). Counted on a real PostgreSQL with the consumer's own share (inbox claim, BEGIN,
COMMIT: once per batch) left out; what the statements did is checked too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import select

from complaints_common.events.contracts import Deadline
from complaints_common.runtime import Runtime
from complaints_devstack.factories import (
    compensation_granted,
    complaint_created,
    deadlines_changed,
    decision_recorded,
    status_changed,
)
from complaints_devstack.service_testing import counted_delivery, migrated_runtime, statements_sent
from complaints_devstack.service_testing import test_settings as service_test_settings
from complaints_followup.main import SERVICE
from complaints_followup.settings import FollowupSettings
from complaints_followup.store import timers
from complaints_followup.store.tables import followups

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
deliver = counted_delivery(SERVICE)


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    settings = service_test_settings(FollowupSettings, database_url, "127.0.0.1:1", "")
    rt = await migrated_runtime(SERVICE, settings)
    yield rt
    await rt.db.dispose()


async def _scheduled(runtime: Runtime, complaint_id: object) -> dict[tuple[str, str | None], datetime]:
    async with runtime.db.transaction() as session:
        rows = await session.execute(
            select(followups.c.kind, followups.c.deadline_name, followups.c.due_at).where(
                followups.c.complaint_id == complaint_id, followups.c.status == "scheduled"
            )
        )
        return {(row.kind, row.deadline_name): row.due_at for row in rows}


async def test_each_event_of_a_complaints_journey_takes_one_to_three_statements(
    runtime: Runtime,
) -> None:
    complaint_id, customer = uuid4(), "c-1"
    acknowledgement = Deadline(name="acknowledgement", due_at=T0 + timedelta(seconds=60))
    final = Deadline(name="final_response", due_at=T0 + 56 * DAY)

    # A first complaint fills the driver's type cache (its introspection is once per connection).
    await deliver(runtime, complaint_created(uuid4(), "c-0", T0, deadlines=[acknowledgement]))
    # fold; the deadline watches (cancel the stale, schedule the new, one multi-row statement)
    created = complaint_created(complaint_id, customer, T0, deadlines=[acknowledgement, final])
    assert len(await deliver(runtime, created)) == 2
    assert set(await _scheduled(runtime, complaint_id)) == {
        ("deadline_warning", "acknowledgement"),
        ("deadline_breach", "acknowledgement"),
        ("deadline_warning", "final_response"),
        ("deadline_breach", "final_response"),
    }

    moved = Deadline(name="final_response", due_at=T0 + 70 * DAY)
    assert len(await deliver(runtime, deadlines_changed(complaint_id, [moved], T0 + DAY))) == 2
    assert await _scheduled(runtime, complaint_id) == {
        ("deadline_warning", "final_response"): T0 + 69 * DAY,
        ("deadline_breach", "final_response"): T0 + 70 * DAY,
    }

    assert len(await deliver(runtime, decision_recorded(complaint_id, customer, "granted", T0))) == 1
    # fold; the satisfaction check; its followup.scheduled in the outbox
    assert len(await deliver(runtime, compensation_granted(complaint_id, customer, T0))) == 3
    # fold; the check is there already; the deadline watches end
    resolved = status_changed(complaint_id, customer, "in_progress", "resolved", T0 + DAY)
    assert len(await deliver(runtime, resolved)) == 3
    assert set(await _scheduled(runtime, complaint_id)) == {("satisfaction_check", None)}


async def test_a_batch_of_due_timers_is_claimed_in_one_statement(runtime: Runtime) -> None:
    for n in range(3):
        await deliver(runtime, compensation_granted(uuid4(), f"c-{n}", T0))
    async with runtime.db.transaction() as session, statements_sent(session) as sent:
        claimed = await timers.claim_due(session, T0 + 8 * DAY, 2)
        nothing = await timers.claim_due(session, T0, 10)
    assert len(sent) == 2
    assert [timer.status for timer in claimed] == ["fired", "fired"]
    assert claimed == sorted(claimed, key=lambda timer: (timer.due_at, timer.id))
    assert nothing == []
