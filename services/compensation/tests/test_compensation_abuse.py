"""Every abuse rule refuses or holds what it should and names itself (pure, no servers)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from complaints_common.events.contracts import Money, Offer
from complaints_compensation.domain.policy import CustomerHistory, decide, judge, value_in
from complaints_compensation.domain.rules import load_policy_file, parse_policy

from .conftest import complaint

DEFAULT = load_policy_file()
TIGHT = parse_policy(
    DEFAULT.model_dump(mode="json")
    | {
        "abuse": {
            "window_days": 30,
            "max_grants": 3,
            "max_value": {"EUR": "100.00"},
            "velocity_hours": 24,
            "max_channels": 2,
            "max_customers_per_contact": 2,
            "min_days_after_purchase": 3,
            "max_share_of_spend": "0.10",
            "rates": {"USD": "0.91", "GBP": "1.17"},
        }
    }
)
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("history", "extra", "status", "rule"),
    [
        (CustomerHistory(order_already_compensated=True), {}, "refused", "abuse.same-order"),
        (CustomerHistory(live_in_window=3), {}, "refused", "abuse.customer-count-cap"),
        (
            CustomerHistory(value_by_currency={"EUR": Decimal("95.00")}),
            {},
            "refused",
            "abuse.customer-value-cap",
        ),
        (
            CustomerHistory(value_by_currency={"USD": Decimal("105.00")}),
            {},
            "refused",
            "abuse.customer-value-cap",
        ),
        (
            CustomerHistory(value_by_currency={"JPY": Decimal("70")}),
            {},
            "held",
            "abuse.unknown-rate",
        ),
        (
            CustomerHistory(channels_in_velocity_window=frozenset({"phone", "chat", "email"})),
            {},
            "held",
            "abuse.channel-velocity",
        ),
        (CustomerHistory(customers_sharing_contact=3), {}, "held", "abuse.shared-contact"),
        (
            CustomerHistory(),
            {"tags": [f"purchased:{(NOW - timedelta(days=1)).date()}"]},
            "held",
            "abuse.soon-after-purchase",
        ),
        (
            CustomerHistory(value_by_currency={"EUR": Decimal("20")}),
            {"tags": ["spend:200.00"]},
            "held",
            "abuse.share-of-spend",
        ),
    ],
)
def test_each_abuse_rule_stops_a_grant_and_names_itself(
    history: CustomerHistory, extra: dict[str, Any], status: str, rule: str
) -> None:
    decision = decide(complaint(category="other", stake="40.00", **extra), TIGHT, history, NOW)
    assert (decision.status, decision.rule_id) == (status, rule)
    assert decision.offer_rule_id == "any.goodwill-coupon" and decision.reason
    assert not decision.within_frontline_authority


def test_the_same_customer_within_the_limits_is_granted() -> None:
    history = CustomerHistory(
        grants_in_window=2,
        live_in_window=2,
        value_by_currency={"EUR": Decimal("30.00"), "USD": Decimal("20.00")},
        channels_in_velocity_window=frozenset({"phone", "chat"}),
        customers_sharing_contact=2,
    )
    tags = [f"purchased:{date(2026, 11, 1)}", "spend:2000"]
    decision = decide(complaint(category="other", stake="40.00", tags=tags), TIGHT, history, NOW)
    assert decision.status == "granted" and decision.within_frontline_authority


def test_an_apology_is_never_stopped_and_statutory_rights_are_not_capped() -> None:
    capped = CustomerHistory(grants_in_window=99, live_in_window=99)
    apology = decide(complaint(tags=["customer_error"]), TIGHT, capped, NOW)
    eu261 = decide(complaint(tags=["eu261", "distance_km:800"]), TIGHT, capped, NOW)
    assert apology.status == "granted" and eu261.status == "granted"


def test_caps_add_up_decisions_across_currencies_with_the_policys_rates() -> None:
    """950 EUR waiting, then 1,000 USD (910 EUR): together over the 1,000 EUR cap."""
    history = CustomerHistory(live_in_window=1, value_by_currency={"EUR": Decimal("950.00")})
    offer = Offer(
        kind="fixed_credit",
        description="credit",
        value=Money(amount=Decimal("1000.00"), currency="USD"),
        cost=Money(amount=Decimal("1000.00"), currency="USD"),
    )
    decision = judge(
        DEFAULT, "proposal", offer, complaint(currency="USD"), history, NOW, proposer_role="manager"
    )
    assert (decision.status, decision.rule_id) == ("refused", "abuse.customer-value-cap")
    assert value_in(DEFAULT, history, "USD") == Decimal("1043.96")


def test_the_order_reference_comes_from_the_tags() -> None:
    decision = decide(complaint(tags=["order:ORD-77"]), TIGHT, CustomerHistory(), NOW)
    assert decision.order_ref == "ORD-77"


def test_a_duplicate_is_refused_whatever_its_offer_naming_its_original() -> None:
    original = complaint(category="other", stake="40.00")
    duplicate = complaint(
        category="other", stake="40.00", repeat_of=str(original.complaint_id), repeat_kind="duplicate"
    )
    decision = decide(duplicate, TIGHT, CustomerHistory(), NOW)
    assert (decision.status, decision.rule_id) == ("refused", "abuse.duplicate-complaint")
    assert decision.reason is not None and str(original.complaint_id) in decision.reason
    assert decision.offer_rule_id == "any.goodwill-coupon"
    # A repeat (the same customer back about something else) is compensated as usual.
    repeat = complaint(
        category="other", stake="40.00", repeat_of=str(original.complaint_id), repeat_kind="repeat"
    )
    assert decide(repeat, TIGHT, CustomerHistory(), NOW).status == "granted"


def test_a_flagged_customers_grant_waits_for_a_person_but_an_apology_and_a_right_do_not() -> None:
    flags = {"customer_flags": ["repeated_extreme"]}
    held = decide(complaint(category="other", stake="40.00", **flags), TIGHT, CustomerHistory(), NOW)
    assert (held.status, held.rule_id) == ("held", "abuse.customer-flagged")
    assert held.reason is not None and "repeated_extreme" in held.reason
    apology = decide(complaint(tags=["customer_error"], **flags), TIGHT, CustomerHistory(), NOW)
    eu261 = decide(complaint(tags=["eu261", "distance_km:800"], **flags), TIGHT, CustomerHistory(), NOW)
    assert apology.status == "granted" and eu261.status == "granted"
