"""Replay the CFPB sample through the pure decide() with a policy and report the frontline share.

    .venv/bin/python -m complaints_compensation.replay [path/to/cfpb-complaints-sample.csv]

Each row becomes a complaint.created as intake would file it: a bank complaint (tag `industry:bank`),
its product as the category, its sub-product as the product, the channel it came in through, and
high severity for older Americans and servicemembers. The customer's history grows as grants are made
(the sample has no customer ids, so each row is its own customer).
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
from complaints_compensation.domain.policy import decide
from complaints_compensation.domain.rules import Policy, load_policy_file

SAMPLE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "cfpb-complaints-sample.csv"
CHANNELS = {"Web": "web", "Phone": "phone", "Postal mail": "post", "Referral": "web", "Email": "email"}


@dataclass(frozen=True)
class ReplayResult:
    complaints: int
    within_frontline: int
    by_rule: Counter[str]
    value: dict[str, Decimal]
    cost: dict[str, Decimal]

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
            "customer": {"customer_id": f"cfpb-{row['Complaint ID']}"},
            "channel": CHANNELS.get(row["Submitted via"], "web"),
            "category": row["Product"][:100],
            "product": (row.get("Sub-product") or None) and row["Sub-product"][:200],
            "severity": "high" if ("Older American" in tags or "Servicemember" in tags) else "medium",
            "filed_at": datetime.now(UTC).isoformat(),
            "tags": ["industry:bank"],
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
    for row in rows:
        decision = decide(as_complaint(row), policy)
        rules[decision.rule_id] += 1
        within += decision.within_frontline_authority
        if decision.status == "granted":
            currency = decision.offer.value.currency
            value[currency] = value.get(currency, Decimal("0")) + decision.offer.value.amount
            cost[currency] = cost.get(currency, Decimal("0")) + decision.offer.cost.amount
    return ReplayResult(len(rows), within, rules, value, cost)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE
    result = replay(path)
    print(f"complaints: {result.complaints}")
    print(f"settled within frontline authority: {result.within_frontline} ({result.share:.2%})")
    for currency in sorted(result.value):
        print(f"granted value {result.value[currency]} {currency}, cost {result.cost[currency]} {currency}")
    for rule, count in result.by_rule.most_common():
        print(f"  {rule}: {count}")


if __name__ == "__main__":
    main()
