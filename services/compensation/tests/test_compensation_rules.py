"""The default policy and the rule language: each rule type decides as documented (pure, no servers)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from complaints_compensation.domain.policy import CustomerHistory, decide
from complaints_compensation.domain.rules import DEFAULT_POLICY_FILE, load_policy_file, parse_policy

from .conftest import complaint

POLICY = load_policy_file()


def offer_of(**kwargs: Any) -> tuple[str, str, Decimal, Decimal, str]:
    d = decide(complaint(**kwargs), POLICY)
    return d.rule_id, d.offer.kind, d.offer.value.amount, d.offer.cost.amount, d.status


def test_the_default_policy_loads_with_a_version_and_a_catch_all() -> None:
    assert DEFAULT_POLICY_FILE.exists()
    assert POLICY.version == "2026.12-default-2"
    assert POLICY.rules[-1].match.is_catch_all


@pytest.mark.parametrize(
    ("tags", "rule", "amount"),
    [
        (["eu261", "distance_km:1200"], "eu261.short", "250.00"),
        (["eu261", "distance_km:1200", "reroute_delay_h:1.5"], "eu261.short-rerouted", "125.00"),
        (["eu261", "distance_km:1500"], "eu261.short", "250.00"),
        (["eu261", "distance_km:2500"], "eu261.medium", "400.00"),
        (["eu261", "distance_km:2500", "reroute_delay_h:3"], "eu261.medium-rerouted", "200.00"),
        (["eu261", "distance_km:2500", "reroute_delay_h:3.5"], "eu261.medium", "400.00"),
        (["eu261", "distance_km:6000"], "eu261.long", "600.00"),
        (["eu261", "distance_km:6000", "reroute_delay_h:4"], "eu261.long-rerouted", "300.00"),
        (["eu261", "distance_km:6000", "extraordinary"], "eu261.extraordinary", "0.00"),
    ],
)
def test_eu261_table_is_expressed_as_rules_and_granted_without_approval(
    tags: list[str], rule: str, amount: str
) -> None:
    decision = decide(complaint(tags=["industry:airline", *tags], currency="GBP"), POLICY)
    assert decision.rule_id == rule
    assert decision.offer.value.amount == Decimal(amount)
    assert decision.offer.value.currency == "EUR"  # the regulation's currency, whatever the stake's
    assert decision.status == "granted" and decision.statutory


def test_walking_skeleton_example_gets_a_billing_credit_within_frontline_authority() -> None:
    d = decide(complaint(category="billing", stake="39.90"), POLICY)
    assert (d.rule_id, d.offer.kind, d.offer.value.amount) == (
        "any.billing-credit",
        "fixed_credit",
        Decimal("49.90"),
    )
    # The overcharge back (39.90) and 10.00 for the trouble (a fifth of it, at least 10).
    assert d.offer.cost.amount == Decimal("44.91") and d.within_frontline_authority
    assert d.policy_version == POLICY.version


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"category": "outage", "severity": "critical", "stake": "30.00", "tags": ["industry:telecom"]},
            ("telecom.outage", "free_service", Decimal("45.00"), Decimal("6.75"), "granted"),
        ),
        (
            {"category": "speed", "stake": "40.00", "tags": ["industry:telecom"]},
            ("telecom.speed", "percentage_discount", Decimal("30.00"), Decimal("9.00"), "granted"),
        ),
        (
            {"category": "defective", "stake": "250.00", "tags": ["industry:retail"]},
            ("retail.defective", "free_product", Decimal("100.00"), Decimal("50.00"), "granted"),
        ),
        (
            {"category": "delivery", "stake": None, "tags": ["industry:retail"]},
            ("retail.delivery", "coupon", Decimal("15.00"), Decimal("6.00"), "granted"),
        ),
        (
            {"category": "noise", "stake": "180.00", "tags": ["industry:hotel"]},
            ("hotel.room", "free_service", Decimal("90.00"), Decimal("22.50"), "granted"),
        ),
        (
            {"category": "staff", "tags": ["industry:hotel"]},
            ("hotel.gift", "free_product", Decimal("25.00"), Decimal("7.50"), "granted"),
        ),
        (
            {"category": "fees", "stake": "35.00", "currency": "USD", "tags": ["industry:bank"]},
            ("bank.fees", "refund", Decimal("45.00"), Decimal("45.00"), "granted"),
        ),
        (
            {"category": "fees", "stake": "300.00", "tags": ["industry:bank"]},
            ("bank.fees", "refund", Decimal("310.00"), Decimal("310.00"), "pending_approval"),
        ),
        (
            {"category": "mortgage", "severity": "high", "stake": None, "tags": ["industry:bank"]},
            ("bank.serious", "fixed_credit", Decimal("50.00"), Decimal("50.00"), "granted"),
        ),
        (
            {"category": "cards", "stake": None, "tags": ["industry:bank"]},
            ("bank.goodwill", "percentage_discount", Decimal("20.00"), Decimal("10.00"), "granted"),
        ),
        (
            {"category": "anything", "tags": ["customer_error"]},
            ("any.customer-error", "apology", Decimal("0.00"), Decimal("0.00"), "granted"),
        ),
        (
            {"category": "other", "severity": "critical", "stake": "900.00"},
            ("any.critical-refund", "refund", Decimal("900.00"), Decimal("900.00"), "pending_approval"),
        ),
        (
            {"category": "other", "stake": "1000.00"},
            ("any.goodwill-coupon", "coupon", Decimal("50.00"), Decimal("20.00"), "granted"),
        ),
    ],
)
def test_each_industry_rule_decides_as_documented(kwargs: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert offer_of(**kwargs) == expected


def test_repeat_complainers_get_an_apology_not_a_reward() -> None:
    d = decide(complaint(category="other"), POLICY, CustomerHistory(grants_in_window=5))
    assert d.rule_id == "any.repeat-complainer" and d.offer.kind == "apology"


def test_over_limit_offer_needs_the_right_level() -> None:
    supervisor = decide(complaint(category="other", severity="critical", stake="400.00"), POLICY)
    manager = decide(complaint(category="other", severity="critical", stake="900.00"), POLICY)
    # No limit is set for yen: nobody may grant it.
    nobody = decide(complaint(category="other", severity="critical", stake="5000.00", currency="JPY"), POLICY)
    assert (supervisor.status, supervisor.authority) == ("pending_approval", "supervisor")
    assert (manager.status, manager.authority) == ("pending_approval", "manager")
    assert (nobody.status, nobody.rule_id) == ("refused", "authority.no-limit")


def _policy_with(**changes: Any) -> dict[str, Any]:
    document = POLICY.model_dump(mode="json")
    document.update(changes)
    return document


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {
                "rules": [
                    {
                        "id": "a",
                        "description": "x",
                        "match": {"severities": ["low"]},
                        "offer": {
                            "kind": "coupon",
                            "description": "c",
                            "value": {"fixed": "5"},
                            "cost_ratio": "0.4",
                        },
                    }
                ]
            },
            "the last rule must match every complaint",
        ),
        (
            {"authority": {"agent": {"EUR": "100"}, "supervisor": {"EUR": "50"}, "manager": {"EUR": "500"}}},
            "rise agent -> manager",
        ),
        ({"authority": {"agent": {"EUR": "100"}}}, "missing: supervisor, manager"),
    ],
)
def test_invalid_policies_are_refused_with_a_reason(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_policy(_policy_with(**changes))


def test_a_value_needs_exactly_one_basis_and_floats_never_enter() -> None:
    rule = {
        "id": "x",
        "description": "x",
        "offer": {
            "kind": "coupon",
            "description": "c",
            "cost_ratio": "0.4",
            "value": {"fixed": "5", "percent_of_stake": "10"},
        },
    }
    with pytest.raises(ValidationError, match="exactly one"):
        parse_policy(_policy_with(rules=[rule]))
    assert all(isinstance(v, Decimal) for v in POLICY.authority["agent"].values())


def test_duplicate_rule_ids_are_refused() -> None:
    rules = POLICY.model_dump(mode="json")["rules"]
    with pytest.raises(ValidationError, match="unique"):
        parse_policy(_policy_with(rules=[rules[0], *rules]))
