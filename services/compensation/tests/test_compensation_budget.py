"""The budget's running total (issue 14): each client's granted cost per currency and month, kept
with every grant so that the budget check reads one row instead of summing the month's grants. It
equals that sum whatever grants (automatically, on a proposal, on approval) or changes a voucher,
loses no increment under concurrent grants, and the migration that adds it counts the grants made
before it. On a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from alembic import command
from alembic.config import Config
from prometheus_client import REGISTRY
from sqlalchemy import insert, text

from complaints_common.events.contracts import Money, Offer
from complaints_common.identity import Actor, Principal
from complaints_common.runtime import Runtime
from complaints_compensation.application.deciding import Proposal, decide_automatically, propose_compensation
from complaints_compensation.application.signing import sign_off
from complaints_compensation.application.vouchers import claw_back, redeem_voucher
from complaints_compensation.dependencies import CompensationDependencies, start
from complaints_compensation.domain.rules import load_policy_file
from complaints_compensation.main import SERVICE
from complaints_compensation.settings import CompensationSettings
from complaints_compensation.store import decisions as store
from complaints_compensation.store.decisions import DecisionRecord
from complaints_compensation.store.tables import decisions
from complaints_devstack.service_testing import migrated_runtime
from complaints_devstack.service_testing import test_settings as service_test_settings

from .conftest import complaint

pytestmark = pytest.mark.integration

TENANT, OTHER = "crm-test", "crm-other"
# What the budget check read before the running total: the month's granted cost, summed.
SUMMED = (
    "SELECT client_id, currency, date_trunc('month', settled_at AT TIME ZONE 'UTC')::date AS period, "
    "sum(cost_amount) AS amount FROM compensation.decisions WHERE status = 'granted' GROUP BY 1, 2, 3"
)


def person(sub: str, role: Any) -> Principal:
    return Principal(client=TENANT, scopes=frozenset({"file", "decide"}), actor=Actor(sub, role))


@pytest.fixture
def settings(database_url: str) -> CompensationSettings:
    return service_test_settings(CompensationSettings, database_url, "127.0.0.1:1", "")


@pytest.fixture
async def deps(settings: CompensationSettings) -> AsyncIterator[CompensationDependencies]:
    runtime = await migrated_runtime(SERVICE, settings)
    dependencies = CompensationDependencies.build(runtime)
    await start(dependencies)
    yield dependencies
    await runtime.db.dispose()


async def _rows(runtime: Runtime, statement: str) -> set[tuple[Any, ...]]:
    async with runtime.db.transaction() as session:
        return {tuple(row) for row in await session.execute(text(statement))}


async def totals(runtime: Runtime) -> set[tuple[Any, ...]]:
    return await _rows(runtime, "SELECT client_id, currency, period, amount FROM compensation.granted_spend")


async def _decide(deps: CompensationDependencies, **fields: Any) -> DecisionRecord:
    data = complaint(**fields)
    async with deps.runtime.db.transaction() as session:
        await decide_automatically(session, deps, data)
        decided = await store.decision_for(session, data.client_id, data.complaint_id)
    assert decided is not None
    return decided


async def test_the_running_total_is_the_months_granted_cost_whatever_grants(
    deps: CompensationDependencies,
) -> None:
    runtime = deps.runtime
    granted = [await _decide(deps, category="billing", customer_id=f"CUST-{n}") for n in range(3)]
    assert {d.status for d in granted} == {"granted"} and all(d.cost_amount > 0 for d in granted)
    await _decide(deps, category="billing", customer_id="CUST-GBP", currency="GBP")
    await _decide(deps, category="billing", customer_id="CUST-9", client_id=OTHER)  # its own row
    refused = await _decide(deps, customer_id="CUST-1", repeat_of=str(uuid4()), repeat_kind="duplicate")
    waiting = await _decide(
        deps, category="outage", severity="critical", stake="900.00", customer_id="CUST-W"
    )
    assert (refused.status, waiting.status) == ("refused", "pending_approval")
    assert await totals(runtime) == await _rows(runtime, SUMMED), "refused and waiting ones cost nothing yet"

    # An agent's proposal within the agent's authority, granted at once.
    apology = await _decide(deps, category="anything", tags=["customer_error"], customer_id="CUST-P")
    proposal = Proposal(
        "fixed_credit", "A credit for the trouble.", Money(amount=Decimal(20), currency="EUR"), None
    )
    proposed = await propose_compensation(deps, person("agent-7", "agent"), apology.complaint_id, proposal)
    assert proposed.status == "granted" and proposed.cost_amount > 0
    # The waiting one, granted at its last sign-off.
    await sign_off(deps, person("sup-1", "supervisor"), waiting.id, "approve", None)
    approved = await sign_off(deps, person("man-1", "manager"), waiting.id, "approve", None)
    assert approved.status == "granted" and approved.cost_amount > 0
    # Vouchers redeemed or clawed back stay granted cost, as the summed budget counted them.
    assert granted[0].voucher_code is not None
    await redeem_voucher(deps, person("till-3", "agent"), granted[0].voucher_code, None)
    await claw_back(deps, person("sup-4", "supervisor"), granted[1].id, "abuse")

    summed = await _rows(runtime, SUMMED)
    assert await totals(runtime) == summed
    month = store.budget_period(datetime.now(UTC))
    eur = sum((d.cost_amount for d in [*granted, proposed, approved]), Decimal(0))
    assert (TENANT, "EUR", month, eur) in summed and {row[0] for row in summed} == {TENANT, OTHER}


def _exceeded(currency: str) -> float | None:
    labels = {"client": TENANT, "currency": currency}
    return REGISTRY.get_sample_value("compensation_budget_exceeded", labels)


async def test_the_budget_warning_turns_on_with_the_grant_that_passes_it(
    deps: CompensationDependencies,
) -> None:
    policy = load_policy_file()
    small = policy.model_copy(
        update={
            "version": "budget-25",
            "budget": policy.budget.model_copy(update={"amounts": {"EUR": Decimal(25)}}),
        }
    )
    async with deps.runtime.db.transaction() as session:
        assert await deps.book.replace(session, small, "operator-1")
    seen = []
    for n in range(4):
        decided = await _decide(deps, category="billing", stake=None, customer_id=f"CUST-B{n}")
        assert decided.cost_amount == Decimal("9.00")
        seen.append(_exceeded("EUR"))
    # 9, 18: within 25 EUR; 27, 36: over it, from the grant that passed it on.
    assert seen == [0.0, 0.0, 1.0, 1.0]


def _grant(client_id: str, cost: str, settled_at: datetime) -> DecisionRecord:
    value = {"amount": cost, "currency": "EUR"}
    offer = {"kind": "fixed_credit", "description": "A credit.", "value": value, "cost": value}
    return DecisionRecord(
        id=uuid4(),
        client_id=client_id,
        complaint_id=uuid4(),
        customer_id=f"CUST-{uuid4()}",
        status="granted",
        offer=Offer.model_validate(offer),
        value_amount=Decimal(cost),
        cost_amount=Decimal(cost),
        currency="EUR",
        rule_id="any.billing-credit",
        offer_rule_id="any.billing-credit",
        policy_version="test",
        authority="frontline",
        proposed_by="auto",
        reason=None,
        within_frontline=True,
        category="billing",
        channel="email",
        order_ref=None,
        decided_at=settled_at,
        trace_context={},
        granted_by="auto",
        settled_at=settled_at,
    )


async def test_concurrent_grants_of_one_client_lose_no_increment_and_each_sees_the_earlier_ones(
    deps: CompensationDependencies,
) -> None:
    runtime = deps.runtime
    now = datetime.now(UTC)

    async def grant() -> Decimal | None:
        async with runtime.db.transaction() as session:
            recorded = await store.record_decision(session, _grant(TENANT, "10.00", now), [])
            assert recorded is not None
            await asyncio.sleep(0.05)  # hold the total while the others wait for it
            return recorded.spent

    seen = await asyncio.gather(*(grant() for _ in range(4)))
    # Each grant read the total with every grant committed before it: none was counted twice or lost.
    assert sorted(seen) == [Decimal(10 * n) for n in range(1, 5)]  # type: ignore[type-var]
    assert await totals(runtime) == {(TENANT, "EUR", store.budget_period(now), Decimal("40.00"))}


async def _migrate(settings: CompensationSettings, step: Any, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(SERVICE.migrations))
    config.attributes.update(database_url=settings.database_dsn, settings=settings, metadata=SERVICE.metadata)
    await asyncio.to_thread(step, config, revision)


async def test_the_migration_counts_every_grant_made_before_it(
    settings: CompensationSettings, deps: CompensationDependencies
) -> None:
    runtime = deps.runtime
    await _migrate(settings, command.downgrade, "0006")
    november, december = datetime(2026, 11, 30, 23, 59, tzinfo=UTC), datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    made = [
        _grant(TENANT, "10.00", november),
        _grant(TENANT, "5.50", december),
        _grant(TENANT, "4.50", december),
        _grant(OTHER, "7.00", december),
        replace(_grant(TENANT, "100.00", december), status="pending_approval", settled_at=None),
        replace(_grant(TENANT, "80.00", december), status="rejected"),
    ]
    async with runtime.db.transaction() as session:
        await session.execute(insert(decisions), [d.columns() for d in made])
    await _migrate(settings, command.upgrade, "head")
    assert await totals(runtime) == {
        (TENANT, "EUR", date(2026, 11, 1), Decimal("10.00")),
        (TENANT, "EUR", date(2026, 12, 1), Decimal("10.00")),
        (OTHER, "EUR", date(2026, 12, 1), Decimal("7.00")),
    }
    # After it, a grant adds to its month's total.
    async with runtime.db.transaction() as session:
        recorded = await store.record_decision(session, _grant(TENANT, "2.00", december), [])
    assert recorded is not None and recorded.spent == Decimal("12.00")


def test_a_grant_counts_in_its_month_in_utc() -> None:
    late = datetime.fromisoformat("2026-12-31T23:30:00-02:00")  # 1 January in UTC
    assert store.budget_period(late) == date(2027, 1, 1)
    assert store.budget_period(datetime(2026, 12, 1, tzinfo=UTC)) == date(2026, 12, 1)
