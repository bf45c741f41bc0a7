"""Replay the CFPB sample through the pure decide() with a policy and report the frontline share.

    .venv/bin/python -m complaints_compensation.application.replay [path/to/cfpb-complaints-sample.csv]

Each row becomes a complaint.created as intake would file it: a bank complaint (tag `industry:bank`),
its product as the category, its sub-product as the product, the channel it came in through, and
high severity for older Americans and servicemembers. The sample has no customer ids and nothing
about what a customer is worth, so each row is its own customer and gets a tier by a fixed rule
(documented, deterministic: `tier_of`), to show how the default policy's customer value sizes offers.
A complaint that came in by phone had an agent on the line: it gets the front line's options and the
customer takes the first, the fix (what the practice says most customers choose).
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

from complaints_common.events.contracts import ComplaintCreatedV1
from complaints_compensation.domain.policy import (
    CustomerHistory,
    Decision,
    decide,
    frontline_options,
    judge,
    wants_options,
)
from complaints_compensation.domain.rules import Policy, load_policy_file

SAMPLE = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "cfpb-complaints-sample.csv"
CHANNELS = {"Web": "web", "Phone": "phone", "Postal mail": "post", "Referral": "web", "Email": "email"}
# A fixed spread of tiers for a sample that has none: by the last digit of the CFPB complaint id,
# 60% untiered, 20% silver, 10% gold, 10% platinum.
TIERS = {**dict.fromkeys("012345", None), "6": "silver", "7": "silver", "8": "gold", "9": "platinum"}


def tier_of(row: dict[str, str]) -> str | None:
    return TIERS.get(row["Complaint ID"][-1:])


@dataclass
class TierLine:
    offers: int = 0
    value: Decimal = Decimal("0")

    @property
    def average(self) -> Decimal:
        return (self.value / self.offers).quantize(Decimal("0.01")) if self.offers else Decimal("0")


@dataclass(frozen=True)
class ReplayResult:
    complaints: int
    within_frontline: int
    by_rule: Counter[str]
    value: dict[str, Decimal]
    cost: dict[str, Decimal]
    by_tier: dict[str, TierLine]
    with_options: int

    @property
    def share(self) -> Decimal:
        return (Decimal(self.within_frontline) / self.complaints).quantize(Decimal("0.0001"))


def as_complaint(row: dict[str, str]) -> ComplaintCreatedV1:
    tags = row.get("Tags") or ""
    return ComplaintCreatedV1.model_validate(
        {
            "complaint_id": str(uuid4()),
            "reference": f"CFPB-{row['Complaint ID']}",
            "client_id": "cfpb-replay",
            "customer": {"customer_id": f"cfpb-{row['Complaint ID']}", "tier": tier_of(row)},
            "channel": CHANNELS.get(row["Submitted via"], "web"),
            "category": row["Product"][:100],
            "product": (row.get("Sub-product") or None) and row["Sub-product"][:200],
            "severity": "high" if ("Older American" in tags or "Servicemember" in tags) else "medium",
            "filed_at": datetime.now(UTC).isoformat(),
            "tags": ["industry:bank"],
            # Phone complaints were taken by an agent: the front line gives the customer options.
            "agent_id": "cfpb-agent" if row["Submitted via"] == "Phone" else None,
        }
    )


def replay(path: Path = SAMPLE, policy: Policy | None = None) -> ReplayResult:
    # The sample is American: amounts in dollars.
    policy = policy or load_policy_file().model_copy(update={"default_currency": "USD"})
    within, rules = 0, Counter[str]()
    value: dict[str, Decimal] = {}
    cost: dict[str, Decimal] = {}
    with path.open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    by_tier: dict[str, TierLine] = {}
    with_options = 0
    for row in rows:
        complaint = as_complaint(row)
        decision = settle(complaint, policy)
        with_options += wants_options(policy, complaint)
        rules[decision.rule_id] += 1
        within += decision.within_frontline_authority
        if decision.status == "granted":
            currency = decision.offer.value.currency
            value[currency] = value.get(currency, Decimal("0")) + decision.offer.value.amount
            cost[currency] = cost.get(currency, Decimal("0")) + decision.offer.cost.amount
            line = by_tier.setdefault(complaint.customer.tier or "none", TierLine())
            line.offers += 1
            line.value += decision.offer.value.amount
    return ReplayResult(len(rows), within, rules, value, cost, by_tier, with_options)


def settle(complaint: ComplaintCreatedV1, policy: Policy) -> Decision:
    """The automatic decision, or, with an agent on the line, the customer's choice of the first option."""
    if not wants_options(policy, complaint):
        return decide(complaint, policy)
    history = CustomerHistory()
    options = frontline_options(policy, complaint, history)
    if not options:
        return decide(complaint, policy)
    first = options[0]
    return judge(policy, first.option_id, first.offer, complaint, history)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE
    result = replay(path)
    print(f"complaints: {result.complaints}")
    print(f"settled within frontline authority: {result.within_frontline} ({result.share:.2%})")
    print(f"given options by an agent (phone): {result.with_options}")
    for currency in sorted(result.value):
        print(f"granted value {result.value[currency]} {currency}, cost {result.cost[currency]} {currency}")
    print("offers by tier:")
    for tier, line in sorted(result.by_tier.items()):
        print(f"  {tier}: {line.offers} offers, {line.value} in all, {line.average} on average")
    for rule, count in result.by_rule.most_common():
        print(f"  {rule}: {count}")


if __name__ == "__main__":
    main()
