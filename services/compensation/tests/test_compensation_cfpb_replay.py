"""Replaying the 2,066 CFPB complaints through decide() with the default policy settles >= 95% at the
front line (pure, no servers)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from complaints_compensation.replay import SAMPLE, replay


@pytest.mark.skipif(not SAMPLE.exists(), reason="the shared CFPB sample is not on this machine")
def test_the_cfpb_sample_is_settled_within_frontline_authority() -> None:
    result = replay()
    print(f"frontline share {result.share:.2%}, value {result.value}, cost {result.cost}")
    assert result.complaints == 2066
    assert result.share >= Decimal("0.95")
    assert sum(result.by_rule.values()) == result.complaints
