"""Replaying the 2,066 CFPB complaints through the default policy (the automatic decision, or the
agent's options where one took the call) settles >= 95% at the front line, and what the customer is
worth shows in the offers by tier (pure, no servers)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from complaints_compensation.application.replay import SAMPLE, replay


@pytest.mark.skipif(not SAMPLE.exists(), reason="the shared CFPB sample is not on this machine")
def test_the_cfpb_sample_is_settled_within_frontline_authority() -> None:
    result = replay()
    print(f"frontline share {result.share:.2%}, value {result.value}, cost {result.cost}")
    assert result.complaints == 2066
    assert result.share >= Decimal("0.95")
    assert sum(result.by_rule.values()) == result.complaints
    assert result.with_options > 0, "phone complaints had an agent on the line: options"
    print({tier: (line.offers, line.average) for tier, line in result.by_tier.items()})
    assert sum(line.offers for line in result.by_tier.values()) == result.complaints
    averages = [result.by_tier[tier].average for tier in ("none", "silver", "gold", "platinum")]
    assert averages == sorted(averages) and averages[0] < averages[-1], "the more valued, the more generous"
