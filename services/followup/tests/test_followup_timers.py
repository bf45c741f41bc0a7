"""Durable timers on a real PostgreSQL with an injected clock: days pass in milliseconds.

No broker is needed: events are handed to the handlers as the consumer would, and what fires is
read from the outbox, which is exactly what the relay will publish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select, text

from complaints_common.events.contracts import Deadline
from complaints_common.runtime import Runtime
from complaints_devstack.factories import (
    compensation_granted,
    complaint_created,
    deadlines_changed,
    decision_recorded,
    status_changed,
)
from complaints_devstack.service_testing import (
    ManualClock,
    counted_delivery,
    migrated_runtime,
    statements_sent,
)
from complaints_devstack.service_testing import test_settings as service_test_settings
from complaints_followup.application import timers
from complaints_followup.dependencies import FollowupDependencies
from complaints_followup.domain.schedule import Clock
from complaints_followup.events.firing import timer_loop
from complaints_followup.main import SERVICE
from complaints_followup.settings import FollowupSettings
from complaints_followup.store import timers as timer_store
from complaints_followup.store.tables import followups

from .conftest import deliver, published, settled_complaint

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _settings(database_url: str, **overrides: Any) -> FollowupSettings:
    values = {"timer_poll_interval_s": 0.02, "satisfaction_delay_s": 3 * 86400.0, **overrides}
    return service_test_settings(FollowupSettings, database_url, "127.0.0.1:1", "", **values)


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    rt = await migrated_runtime(SERVICE, _settings(database_url))
    yield rt
    await rt.db.dispose()


async def fire_due_timers(rt: Runtime, clock: Clock, limit: int) -> int:
    """One batch of the timer loop of the replica `rt`, on `clock`."""
    return await timers.fire_due_timers(FollowupDependencies.build(rt, clock), limit)


async def _fired(rt: Runtime) -> list[dict[str, Any]]:
    """The followup.due events written, in the order the relay will publish them."""
    return await published(rt, "complaints.followup.due.v1")


async def _statuses(rt: Runtime, complaint_id: UUID) -> dict[tuple[str, int], str]:
    async with rt.db.transaction() as session:
        rows = await session.execute(
            select(followups.c.kind, followups.c.attempt, followups.c.status, followups.c.reason_key).where(
                followups.c.complaint_id == complaint_id
            )
        )
        return {(row.kind, row.attempt): row.status for row in rows}


async def _run_replicas(rt: Runtime, clock: ManualClock, replicas: int, until_fired: int) -> None:
    """Run `replicas` timer loops against one database until `until_fired` events exist."""
    stop = asyncio.Event()
    others = [SERVICE.runtime(rt.settings) for _ in range(replicas - 1)]  # rt's database is migrated
    loops = [
        asyncio.create_task(timer_loop(FollowupDependencies.build(r, clock))(stop)) for r in [rt, *others]
    ]
    try:
        for _ in range(500):
            if len(await _fired(rt)) >= until_fired:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # let any double firing show itself
    finally:
        stop.set()
        await asyncio.gather(*loops)
        for other in others:
            await other.db.dispose()


async def test_a_satisfaction_check_falls_due_at_the_configured_time_and_fires_once_with_two_replicas(
    database_url: str,
) -> None:
    # Small batches, so that the two replicas' polls overlap many times.
    runtime = await migrated_runtime(SERVICE, _settings(database_url, timer_batch_size=5))
    complaints = [await settled_complaint(runtime, T0) for _ in range(120)]
    clock = ManualClock(T0 + 3 * DAY - timedelta(seconds=1))

    assert await fire_due_timers(runtime, clock, 1000) == 0, "nothing is due a second early"

    clock.advance(timedelta(seconds=1))
    try:
        await _run_replicas(runtime, clock, replicas=2, until_fired=len(complaints))
        fired = await _fired(runtime)
    finally:
        await runtime.db.dispose()

    assert sorted(event["followup_id"] for event in fired) == sorted(
        {event["followup_id"] for event in fired}
    ), "a timer fired twice"
    assert {UUID(event["complaint_id"]) for event in fired} == set(complaints)
    assert {event["kind"] for event in fired} == {"satisfaction_check"}
    assert {event["due_at"] for event in fired} == {(T0 + 3 * DAY).isoformat().replace("+00:00", "Z")}


async def test_timers_missed_during_downtime_fire_on_restart_in_due_order_in_bounded_batches(
    database_url: str,
) -> None:
    rt = await migrated_runtime(SERVICE, _settings(database_url, timer_batch_size=7))
    try:
        # Settled at staggered times over four days, while no timer loop was running.
        for hour in reversed(range(0, 96, 3)):
            await settled_complaint(rt, T0 + timedelta(hours=hour))
        # Back up a week later; every reading of the clock is a millisecond on, so batches differ.
        clock = ManualClock(T0 + 8 * DAY, tick=timedelta(milliseconds=1))
        await _run_replicas(rt, clock, replicas=1, until_fired=32)
        fired = await _fired(rt)
    finally:
        await rt.db.dispose()

    assert len(fired) == 32
    due_times = [event["due_at"] for event in fired]
    assert due_times == sorted(due_times), "caught up out of due order"
    batch_sizes: dict[str, int] = {}
    for event in fired:
        batch_sizes[event["fired_at"]] = batch_sizes.get(event["fired_at"], 0) + 1
    assert max(batch_sizes.values()) <= 7 and len(batch_sizes) >= 5


async def test_a_cancelled_timer_never_fires(runtime: Runtime) -> None:
    rejected = await settled_complaint(runtime, T0)
    await deliver(runtime, decision_recorded(rejected, "x", "rejected", T0 + timedelta(hours=1)))
    closed = await settled_complaint(runtime, T0)
    await deliver(runtime, status_changed(closed, "x", "resolved", "closed", T0 + DAY))
    kept = await settled_complaint(runtime, T0)

    clock = ManualClock(T0 + 30 * DAY)
    await _run_replicas(runtime, clock, replicas=2, until_fired=1)

    assert {UUID(event["complaint_id"]) for event in await _fired(runtime)} == {kept}
    assert await _statuses(runtime, rejected) == {("satisfaction_check", 1): "cancelled"}
    assert await _statuses(runtime, closed) == {("satisfaction_check", 1): "cancelled"}


async def test_no_satisfaction_check_is_scheduled_for_a_closed_complaint(runtime: Runtime) -> None:
    complaint_id = uuid4()
    await deliver(runtime, complaint_created(complaint_id, "c-1", T0))
    await deliver(runtime, status_changed(complaint_id, "c-1", "resolved", "closed", T0 + DAY))
    await deliver(runtime, compensation_granted(complaint_id, "c-1", T0))  # arrives late, other topic
    assert await _statuses(runtime, complaint_id) == {}


async def test_a_resolved_complaint_gets_one_satisfaction_check_and_its_deadline_watches_end(
    runtime: Runtime,
) -> None:
    complaint_id = uuid4()
    final = Deadline(name="final_response", due_at=T0 + 56 * DAY)
    await deliver(runtime, complaint_created(complaint_id, "c-1", T0, deadlines=[final]))
    await deliver(runtime, compensation_granted(complaint_id, "c-1", T0 + DAY))
    await deliver(runtime, status_changed(complaint_id, "c-1", "in_progress", "resolved", T0 + 2 * DAY))
    assert await _statuses(runtime, complaint_id) == {
        ("satisfaction_check", 1): "scheduled",
        ("deadline_warning", 1): "cancelled",
        ("deadline_breach", 1): "cancelled",
    }


async def test_deadline_watches_warn_before_and_fire_at_the_breach(runtime: Runtime) -> None:
    complaint_id = uuid4()
    deadlines = [
        Deadline(name="acknowledgement", due_at=T0 + timedelta(seconds=60)),
        Deadline(name="final_response", due_at=T0 + 56 * DAY),
        Deadline(name="first_response", due_at=None, paused=True),
    ]
    await deliver(runtime, complaint_created(complaint_id, "c-1", T0, deadlines=deadlines))
    clock = ManualClock(T0 + timedelta(seconds=50))
    await fire_due_timers(runtime, clock, 100)
    clock.advance(56 * DAY)
    await fire_due_timers(runtime, clock, 100)

    fired = [(e["kind"], e["deadline_name"], e["due_at"]) for e in await _fired(runtime)]
    assert fired == [
        ("deadline_warning", "acknowledgement", "2026-11-02T09:00:48Z"),
        ("deadline_breach", "acknowledgement", "2026-11-02T09:01:00Z"),
        ("deadline_warning", "final_response", "2026-12-27T09:00:00Z"),
        ("deadline_breach", "final_response", "2026-12-28T09:00:00Z"),
    ]


async def test_changed_deadlines_reschedule_and_a_paused_one_is_cancelled(runtime: Runtime) -> None:
    complaint_id = uuid4()
    first = Deadline(name="first_response", due_at=T0 + 15 * DAY)
    final = Deadline(name="final_response", due_at=T0 + 60 * DAY)
    # deadlines_changed travels on another topic and may overtake complaint.created
    moved = Deadline(name="final_response", due_at=T0 + 70 * DAY)
    paused = Deadline(name="first_response", due_at=None, paused=True)
    await deliver(runtime, deadlines_changed(complaint_id, [paused, moved], T0 + DAY))
    await deliver(runtime, complaint_created(complaint_id, "c-1", T0, deadlines=[first, final]))

    async with runtime.db.transaction() as session:
        rows = await session.execute(
            select(followups.c.kind, followups.c.deadline_name, followups.c.due_at).where(
                followups.c.complaint_id == complaint_id, followups.c.status == "scheduled"
            )
        )
        scheduled = {(row.kind, row.deadline_name): row.due_at for row in rows}
    assert scheduled == {
        ("deadline_warning", "final_response"): T0 + 69 * DAY,
        ("deadline_breach", "final_response"): T0 + 70 * DAY,
    }

    await deliver(runtime, deadlines_changed(complaint_id, [first, final], T0 + 2 * DAY))
    async with runtime.db.transaction() as session:
        counts = dict(
            (
                await session.execute(
                    text(
                        "select status, count(*) from followup.followups"
                        " where complaint_id = :c group by status"
                    ),
                    {"c": complaint_id},
                )
            ).all()
        )
    assert counts == {"scheduled": 4, "cancelled": 2}


async def test_a_deadline_met_on_acknowledgement_is_no_longer_watched(runtime: Runtime) -> None:
    complaint_id = uuid4()
    ack = Deadline(name="acknowledgement", due_at=T0 + timedelta(seconds=60))
    await deliver(runtime, complaint_created(complaint_id, "c-1", T0, deadlines=[ack]))
    met = Deadline(name="acknowledgement", due_at=ack.due_at, met_at=T0 + timedelta(seconds=2))
    acknowledged = status_changed(
        complaint_id, "c-1", "received", "acknowledged", T0 + timedelta(seconds=2), [met]
    )
    await deliver(runtime, acknowledged)
    await fire_due_timers(runtime, ManualClock(T0 + DAY), 100)
    assert await _fired(runtime) == []
    assert set((await _statuses(runtime, complaint_id)).values()) == {"cancelled"}


async def test_no_survey_while_a_compensation_decision_is_pending(runtime: Runtime) -> None:
    complaint_id = uuid4()
    await deliver(runtime, complaint_created(complaint_id, "c-1", T0))
    await deliver(runtime, status_changed(complaint_id, "c-1", "in_progress", "resolved", T0))
    await deliver(
        runtime, decision_recorded(complaint_id, "c-1", "pending_approval", T0 + timedelta(hours=1))
    )

    clock = ManualClock(T0 + 3 * DAY)
    assert await fire_due_timers(runtime, clock, 100) == 1
    assert await _fired(runtime) == [], "surveyed while the decision was pending"

    await deliver(runtime, compensation_granted(complaint_id, "c-1", T0 + 4 * DAY))
    clock.advance(2 * DAY)
    await fire_due_timers(runtime, clock, 100)
    assert [e["kind"] for e in await _fired(runtime)] == ["satisfaction_check"]


async def test_a_grant_alone_settles_a_pending_decision_as_its_record_beside_it_did(runtime: Runtime) -> None:
    """An approval is announced by compensation.granted alone: the survey it lifts the deferral
    for is sent once, and a decision record with status granted from before (an upgrade) beside
    it, in either order, changes nothing."""
    announced = {"alone": (False, False), "record first": (True, False), "record after": (False, True)}
    complaints = {}
    for n, (how, (before, after)) in enumerate(announced.items()):
        complaint_id, customer = uuid4(), f"c-{n}"
        complaints[complaint_id] = how
        await deliver(runtime, complaint_created(complaint_id, customer, T0))
        await deliver(runtime, status_changed(complaint_id, customer, "in_progress", "resolved", T0))
        pending = decision_recorded(complaint_id, customer, "pending_approval", T0 + timedelta(hours=1))
        await deliver(runtime, pending)
        record = decision_recorded(complaint_id, customer, "granted", T0 + timedelta(hours=2))
        if before:
            await deliver(runtime, record)
        await deliver(runtime, compensation_granted(complaint_id, customer, T0 + timedelta(hours=2)))
        if after:
            await deliver(runtime, record)

    await fire_due_timers(runtime, ManualClock(T0 + 3 * DAY), 100)
    fired = [(complaints[UUID(e["complaint_id"])], e["kind"]) for e in await _fired(runtime)]
    assert sorted(fired) == sorted((how, "satisfaction_check") for how in announced)
    for complaint_id in complaints:
        assert await _statuses(runtime, complaint_id) == {("satisfaction_check", 1): "fired"}


async def test_at_most_one_survey_per_customer_per_period(runtime: Runtime) -> None:
    first = await settled_complaint(runtime, T0, "loyal-1")
    second = await settled_complaint(runtime, T0 + DAY, "loyal-1")
    later = await settled_complaint(runtime, T0 + 40 * DAY, "loyal-1")
    clock = ManualClock(T0 + 10 * DAY)
    await fire_due_timers(runtime, clock, 100)
    clock.advance(40 * DAY)
    await fire_due_timers(runtime, clock, 100)

    assert [UUID(e["complaint_id"]) for e in await _fired(runtime)] == [first, later]
    assert await _statuses(runtime, second) == {("satisfaction_check", 1): "cancelled"}


async def test_survey_limits_are_per_client_a_customer_id_is_the_clients_own(runtime: Runtime) -> None:
    """CUST-1 of one client is not CUST-1 of another: each is surveyed, each timer keeps its client."""
    mine = await settled_complaint(runtime, T0, "CUST-1", client="crm-a")
    theirs = await settled_complaint(runtime, T0 + DAY, "CUST-1", client="crm-b")
    await fire_due_timers(runtime, ManualClock(T0 + 10 * DAY), 100)
    fired = await _fired(runtime)
    assert [(UUID(e["complaint_id"]), e["client_id"]) for e in fired] == [(mine, "crm-a"), (theirs, "crm-b")]


async def test_a_redelivered_event_schedules_nothing_twice(runtime: Runtime) -> None:
    complaint_id = uuid4()
    await deliver(runtime, complaint_created(complaint_id, "c-1", T0))
    granted = compensation_granted(complaint_id, "c-1", T0)
    assert await deliver(runtime, granted)
    assert not await deliver(runtime, granted)
    # the same grant again under a new event id (a re-publish) still finds the one check
    await deliver(runtime, compensation_granted(complaint_id, "c-1", T0))
    assert await _statuses(runtime, complaint_id) == {("satisfaction_check", 1): "scheduled"}


async def test_two_replicas_polling_at_once_split_the_due_timers_without_overlap(runtime: Runtime) -> None:
    for _ in range(40):
        await settled_complaint(runtime, T0)
    other = SERVICE.runtime(runtime.settings)
    clock = ManualClock(T0 + 4 * DAY)
    claimed: dict[str, int] = {"one": 0, "two": 0}
    try:
        for _ in range(10):
            one, two = await asyncio.gather(
                fire_due_timers(runtime, clock, 3), fire_due_timers(other, clock, 3)
            )
            claimed["one"] += one
            claimed["two"] += two
    finally:
        await other.db.dispose()
    fired = await _fired(runtime)
    assert claimed["one"] + claimed["two"] == len(fired) == len({e["followup_id"] for e in fired}) == 40
    assert claimed["one"] > 0 and claimed["two"] > 0, "the replicas did not both work"


# How many statements an event's handling and a timer batch's claim send (issue 14: less work per
# complaint), the consumer's own share (inbox claim, BEGIN, COMMIT: once per batch) left out.
counted = counted_delivery(SERVICE)


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
    await counted(runtime, complaint_created(uuid4(), "c-0", T0, deadlines=[acknowledgement]))
    # fold; the deadline watches (cancel the stale, schedule the new, one multi-row statement)
    created = complaint_created(complaint_id, customer, T0, deadlines=[acknowledgement, final])
    assert len(await counted(runtime, created)) == 2
    assert set(await _scheduled(runtime, complaint_id)) == {
        ("deadline_warning", "acknowledgement"),
        ("deadline_breach", "acknowledgement"),
        ("deadline_warning", "final_response"),
        ("deadline_breach", "final_response"),
    }

    moved = Deadline(name="final_response", due_at=T0 + 70 * DAY)
    assert len(await counted(runtime, deadlines_changed(complaint_id, [moved], T0 + DAY))) == 2
    assert await _scheduled(runtime, complaint_id) == {
        ("deadline_warning", "final_response"): T0 + 69 * DAY,
        ("deadline_breach", "final_response"): T0 + 70 * DAY,
    }

    # fold: a decision waiting for approval (a grant has no decision record: compensation.granted
    # announces it alone, so an automatic grant costs only the three statements below)
    waiting = decision_recorded(complaint_id, customer, "pending_approval", T0 - timedelta(hours=1))
    assert len(await counted(runtime, waiting)) == 1
    # fold; the satisfaction check; its followup.scheduled in the outbox
    assert len(await counted(runtime, compensation_granted(complaint_id, customer, T0))) == 3
    # fold; the check is there already; the deadline watches end
    resolved = status_changed(complaint_id, customer, "in_progress", "resolved", T0 + DAY)
    assert len(await counted(runtime, resolved)) == 3
    assert set(await _scheduled(runtime, complaint_id)) == {("satisfaction_check", None)}


async def test_a_batch_of_due_timers_is_claimed_in_one_statement(runtime: Runtime) -> None:
    for n in range(3):
        await counted(runtime, compensation_granted(uuid4(), f"c-{n}", T0))
    async with runtime.db.transaction() as session, statements_sent(session) as sent:
        claimed = await timer_store.claim_due(session, T0 + 8 * DAY, 2)
        nothing = await timer_store.claim_due(session, T0, 10)
    assert len(sent) == 2
    assert [timer.status for timer in claimed] == ["fired", "fired"]
    assert claimed == sorted(claimed, key=lambda timer: (timer.due_at, timer.id))
    assert nothing == []
