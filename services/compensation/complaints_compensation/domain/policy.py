"""Which compensation a complaint earns: pure rules, no I/O.

The walking skeleton's policy is one goodwill rule: a coupon for the next purchase, valued at a fifth
of what is at stake (at least 5, at most 50 in the complaint's currency), plus the apology. Valued at
retail for the customer; it costs us about 40% of that.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from complaints_common.events.contracts import ComplaintCreatedV1, Money, Offer

POLICY_VERSION = "2026.11-skeleton"
DEFAULT_CURRENCY = "EUR"
FRONTLINE_LIMIT = Decimal("100.00")
CENT = Decimal("0.01")
VOUCHER_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no look-alikes (0/O, 1/I/L)


@dataclass(frozen=True, slots=True)
class Decision:
    rule_id: str
    offer: Offer
    within_frontline_authority: bool


def _clamp(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return min(max(value, low), high)


def decide(complaint: ComplaintCreatedV1) -> Decision:
    stake = complaint.amount_at_stake
    currency = stake.currency if stake else DEFAULT_CURRENCY
    base = stake.amount if stake else Decimal("0")
    value = _clamp(base * Decimal("0.2"), Decimal("5"), Decimal("50")).quantize(CENT, ROUND_HALF_UP)
    cost = (value * Decimal("0.4")).quantize(CENT, ROUND_HALF_UP)
    offer = Offer(
        kind="coupon",
        description=f"A {value} {currency} coupon for your next purchase, with our apologies.",
        value=Money(amount=value, currency=currency),
        cost=Money(amount=cost, currency=currency),
    )
    return Decision("goodwill-coupon", offer, value <= FRONTLINE_LIMIT)


def new_voucher_code() -> str:
    """16 random characters from a 30-letter alphabet: about 78 bits, unguessable, easy to read out."""
    body = "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(16))
    return "-".join(body[i : i + 4] for i in range(0, 16, 4))
