"""How many statements compensation sends per complaint it decides (issue 14: less work per
complaint), on a real PostgreSQL, the consumer's own share (inbox claim, BEGIN, COMMIT: once per
batch) left out; what they wrote is checked too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from sqlalchemy import select

from complaints_common.events.envelope import (
    COMPENSATION_DECISION_RECORDED_V1,
    COMPENSATION_GRANTED_V1,
    COMPLAINT_CREATED_V1,
    Event,
)
from complaints_common.runtime import Runtime
from complaints_compensation.dependencies import CompensationDependencies, start
from complaints_compensation.main import SERVICE
from complaints_compensation.settings import CompensationSettings
from complaints_compensation.store.tables import decisions, outbox
from complaints_devstack.service_testing import counted_delivery, migrated_runtime
from complaints_devstack.service_testing import test_settings as service_test_settings

from .conftest import complaint

pytestmark = pytest.mark.integration

deliver = counted_delivery(SERVICE)


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    settings = service_test_settings(CompensationSettings, database_url, "127.0.0.1:1", "")
    rt = await migrated_runtime(SERVICE, settings)
    await start(CompensationDependencies.build(rt))
    # A first complaint fills the driver's type cache (its introspection is once per connection).
    await deliver(rt, Event(COMPLAINT_CREATED_V1, complaint(customer_id="CUST-0", channel="email"), "/tests"))
    yield rt
    await rt.db.dispose()


async def _written(runtime: Runtime, complaint_id: object) -> tuple[list[str], list[str]]:
    async with runtime.db.transaction() as session:
        statuses = await session.scalars(
            select(decisions.c.status).where(decisions.c.complaint_id == complaint_id)
        )
        events = await session.scalars(
            select(outbox.c.type).where(outbox.c.aggregateid == str(complaint_id)).order_by(outbox.c.seq)
        )
        return list(statuses), list(events)


async def test_an_automatic_grant_takes_three_statements_with_its_event_and_budget(runtime: Runtime) -> None:
    # the customer locked and the complaint remembered; the history; the decision, its one event
    # (compensation.granted alone: no decision record with it) and the client's spend for the budget
    filed = complaint(channel="email")
    assert len(await deliver(runtime, Event(COMPLAINT_CREATED_V1, filed, "/tests"))) == 3
    assert await _written(runtime, filed.complaint_id) == (["granted"], [COMPENSATION_GRANTED_V1.ce_type])


async def test_a_refusal_takes_three_statements_and_publishes_only_its_record(runtime: Runtime) -> None:
    filed = complaint(channel="email", repeat_of=str(uuid4()), repeat_kind="duplicate")
    assert len(await deliver(runtime, Event(COMPLAINT_CREATED_V1, filed, "/tests"))) == 3
    assert await _written(runtime, filed.complaint_id) == (
        ["refused"],
        [COMPENSATION_DECISION_RECORDED_V1.ce_type],
    )
