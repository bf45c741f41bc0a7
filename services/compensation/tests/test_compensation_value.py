"""What the customer is worth, the customer's time, the offer in their language and the front
line's options, under the shipped default policy (pure, no servers)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from complaints_compensation.domain.policy import CustomerHistory, decide, frontline_options, wants_options
from complaints_compensation.domain.rules import load_policy_file, parse_policy

from .conftest import complaint

POLICY = load_policy_file()
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def customer(tier: str | None = None, language: str = "en") -> dict[str, Any]:
    return {"customer": {"customer_id": "CUST-V", "tier": tier, "language": language}}


@pytest.mark.parametrize(
    ("tier", "amount"), [(None, "25.00"), ("silver", "28.75"), ("gold", "32.50"), ("platinum", "37.50")]
)
def test_the_tier_sizes_the_offer(tier: str | None, amount: str) -> None:
    decision = decide(complaint(category="other", stake="100.00", **customer(tier)), POLICY, now=NOW)
    assert decision.rule_id == "any.goodwill-coupon"
    assert decision.offer.value.amount == Decimal(amount)


def test_tenure_counts_from_the_crm_or_from_the_first_complaint_seen_and_the_factor_is_capped() -> None:
    loyal = complaint(category="other", stake="100.00", tags=["customer_since:2014-05-01"])
    assert decide(loyal, POLICY, now=NOW).offer.value.amount == Decimal("30.00")  # over 10 years: 1.2
    seen = CustomerHistory(first_seen=NOW - timedelta(days=4 * 365), prior_complaints=3)
    assert decide(
        complaint(category="other", stake="100.00"), POLICY, seen, NOW
    ).offer.value.amount == Decimal("27.50")  # three years and more: 1.1
    platinum = complaint(
        category="other", stake="100.00", tags=["customer_since:2000-01-01"], **customer("platinum")
    )
    assert decide(platinum, POLICY, now=NOW).offer.value.amount == Decimal("45.00")  # 1.5 x 1.2 = 1.8 (cap 2)


def test_a_valued_customer_raises_the_agents_own_authority() -> None:
    # A 110 EUR refund (owed as it is, not scaled): above the agent's 100, within their 150 for platinum.
    plain = decide(complaint(category="other", severity="critical", stake="110.00"), POLICY, now=NOW)
    valued = decide(
        complaint(category="other", severity="critical", stake="110.00", **customer("platinum")),
        POLICY,
        now=NOW,
    )
    assert (plain.status, plain.authority) == ("pending_approval", "supervisor")
    assert (valued.status, valued.authority, valued.within_frontline_authority) == (
        "granted",
        "frontline",
        True,
    )


def test_statutory_amounts_are_the_same_for_everyone() -> None:
    data = complaint(tags=["industry:airline", "eu261", "distance_km:1200"], **customer("platinum"))
    assert decide(data, POLICY, now=NOW).offer.value.amount == Decimal("250.00")


def test_a_fix_comes_with_something_for_the_customers_trouble() -> None:
    decision = decide(
        complaint(category="defective", stake="60.00", tags=["industry:retail"]), POLICY, now=NOW
    )
    # The replacement (60) and 15% of it, at least 10, for the trouble.
    assert decision.offer.value.amount == Decimal("70.00")
    assert (
        decision.offer.description
        == "A free replacement worth 60.00 EUR, and a 10.00 EUR credit for the trouble."
    )
    floors = [
        r.offer.value.minimum
        for r in POLICY.rules
        if r.offer.kind == "coupon" and r.offer.value.fixed is None
    ]
    assert floors and min(floors) >= Decimal("15.00"), "no five-unit trinkets"


@pytest.mark.parametrize(
    ("language", "start"),
    [
        ("ru", "Купон на 15.00 EUR"),
        ("fa-IR", "کوپن 15.00 EUR"),
        ("de", "A 15.00 EUR coupon"),
        ("en", "A 15.00"),
    ],
)
def test_the_offer_is_described_in_the_customers_language_with_a_fallback(language: str, start: str) -> None:
    decision = decide(complaint(category="other", stake=None, **customer(language=language)), POLICY, now=NOW)
    assert decision.offer.description.startswith(start)


def test_every_shipped_offer_has_a_russian_and_a_persian_text() -> None:
    for rule in [*POLICY.rules, *POLICY.frontline_options.alternatives]:
        assert {"ru", "fa"} <= set(rule.offer.descriptions), rule.id


def test_a_locale_text_with_an_unknown_placeholder_is_refused_at_load() -> None:
    document = POLICY.model_dump(mode="json")
    document["rules"][-1]["offer"]["descriptions"]["ru"] = "Купон {amount}"
    with pytest.raises(ValidationError, match="unknown placeholders: amount"):
        parse_policy(document)


def test_with_an_agent_on_the_line_the_customer_gets_options_of_different_kinds_within_authority() -> None:
    data = complaint(category="billing", stake="39.90", agent_id="agent-1")
    assert wants_options(POLICY, data)
    assert not wants_options(POLICY, complaint(category="billing", channel="web", agent_id="agent-1"))
    assert not wants_options(POLICY, complaint(category="billing"))  # no agent: the automatic grant
    options = frontline_options(POLICY, data, CustomerHistory(), NOW)
    assert [o.option_id for o in options] == ["any.billing-credit", "option.refund", "option.coupon"]
    assert len({o.offer.kind for o in options}) == 3
    assert all(o.offer.value.amount <= POLICY.limit("agent", "EUR") for o in options)  # type: ignore[operator]


def test_options_above_the_agents_authority_or_stopped_by_abuse_rules_are_left_out() -> None:
    big = complaint(category="other", severity="critical", stake="400.00", agent_id="agent-1")
    kinds = [o.offer.kind for o in frontline_options(POLICY, big, CustomerHistory(), NOW)]
    assert "refund" not in kinds, "a 400 EUR refund is above the agent's 100"
    capped = CustomerHistory(live_in_window=POLICY.abuse.max_grants)
    assert frontline_options(POLICY, complaint(agent_id="agent-1"), capped, NOW) == []


def test_where_the_policy_offers_words_only_the_agent_gets_no_money_to_choose_from() -> None:
    repeat = CustomerHistory(grants_in_window=5)  # the repeat complainer: flagged, not rewarded
    assert frontline_options(POLICY, complaint(stake="40.00", agent_id="agent-1"), repeat, NOW) == []
    mistake = complaint(tags=["customer_error"], agent_id="agent-1")
    assert frontline_options(POLICY, mistake, CustomerHistory(), NOW) == []


def test_prior_complaints_and_lifetime_spend_can_be_matched() -> None:
    document = POLICY.model_dump(mode="json")
    document["rules"].insert(
        0,
        {
            "id": "loyal.big-spender",
            "description": "Spent much, rarely complains.",
            "match": {"lifetime_spend": {"min": 5000}, "prior_complaints": {"max": 1}},
            "offer": {
                "kind": "fixed_credit",
                "description": "{value} {currency}",
                "value": {"fixed": "60.00"},
                "cost_ratio": 1,
            },
        },
    )
    policy = parse_policy(document)
    spender = complaint(category="other", tags=["lifetime_spend:8000"])
    assert decide(spender, policy, CustomerHistory(prior_complaints=1), NOW).rule_id == "loyal.big-spender"
    assert decide(spender, policy, CustomerHistory(prior_complaints=2), NOW).rule_id == "any.goodwill-coupon"
    assert date.fromisoformat("2014-05-01")  # the tag format customer_since uses
