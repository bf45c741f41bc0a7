"""Which compensation a complaint earns, and who may grant it: pure rules, no I/O.

`decide()` takes the complaint, the policy and what we know of the customer's recent history, and
returns the decision: the offer (first matching rule), whether an abuse rule refuses or holds it,
and which role's authority it needs. Every decision names the rule and the policy version.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

from complaints_common.events.contracts import ComplaintCreatedV1, Money, Offer, OfferKind
from complaints_compensation.domain.rules import ROLES, Match, Policy, Role, Rule

CENT = Decimal("0.01")
VOUCHER_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no look-alikes (0/O, 1/I/L)
# Offers that are redeemed later carry a voucher code; a refund is paid and an apology is words.
VOUCHER_KINDS = frozenset({"percentage_discount", "fixed_credit", "free_service", "free_product", "coupon"})
# The rules intake's facts decide by (named in the decision like every abuse rule).
DUPLICATE_RULE = "abuse.duplicate-complaint"
FLAGGED_RULE = "abuse.customer-flagged"
Status = Literal["granted", "pending_approval", "refused", "held"]
Authority = Literal["frontline", "supervisor", "manager"]
AUTHORITY_OF_ROLE: dict[Role, Authority] = {
    "agent": "frontline",
    "supervisor": "supervisor",
    "manager": "manager",
}


@dataclass(frozen=True, slots=True)
class CustomerHistory:
    """What the store knows about the customer when deciding (all within the policy's windows)."""

    grants_in_window: int = 0  # granted only: what rules' `prior_grants` match on
    live_in_window: int = 0  # granted or waiting: what the count cap counts
    value_by_currency: dict[str, Decimal] = field(default_factory=dict)  # granted or waiting
    channels_in_velocity_window: frozenset[str] = frozenset()
    customers_sharing_contact: int = 1
    order_already_compensated: bool = False


@dataclass(frozen=True, slots=True)
class ComplaintFacts:
    """What the rules look at, taken from the complaint and its `name:value` tags."""

    industry: str | None
    tags: frozenset[str]
    numbers: dict[str, Decimal]
    order_ref: str | None
    purchased_on: date | None
    spend: Decimal | None

    @classmethod
    def of(cls, complaint: ComplaintCreatedV1) -> ComplaintFacts:
        pairs = dict(tag.split(":", 1) for tag in complaint.tags if ":" in tag)
        numbers: dict[str, Decimal] = {}
        for name, raw in pairs.items():
            try:
                numbers[name] = Decimal(raw)
            except InvalidOperation:
                continue
        try:
            purchased = date.fromisoformat(pairs["purchased"]) if "purchased" in pairs else None
        except ValueError:
            purchased = None
        return cls(
            industry=pairs.get("industry"),
            tags=frozenset(complaint.tags),
            numbers=numbers,
            order_ref=pairs.get("order"),
            purchased_on=purchased,
            spend=numbers.get("spend"),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    rule_id: str  # the rule that decided: the offer rule, or the abuse/authority rule that stopped it
    offer_rule_id: str
    policy_version: str
    offer: Offer
    required_role: Role
    reason: str | None = None
    statutory: bool = False
    order_ref: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def within_frontline_authority(self) -> bool:
        return self.status == "granted" and self.required_role == "agent"

    @property
    def authority(self) -> Authority:
        return AUTHORITY_OF_ROLE[self.required_role]


def matches(rule_match: Match, complaint: ComplaintCreatedV1, facts: ComplaintFacts, prior: int) -> bool:
    stake = complaint.amount_at_stake.amount if complaint.amount_at_stake else None
    checks = (
        not rule_match.industries or facts.industry in rule_match.industries,
        not rule_match.categories or complaint.category in rule_match.categories,
        not rule_match.products or complaint.product in rule_match.products,
        not rule_match.severities or complaint.severity in rule_match.severities,
        not rule_match.channels or complaint.channel in rule_match.channels,
        not rule_match.tiers or complaint.customer.tier in rule_match.tiers,
        set(rule_match.tags_all) <= facts.tags,
        not set(rule_match.tags_none) & facts.tags,
        rule_match.amount_at_stake is None or rule_match.amount_at_stake.holds(stake),
        rule_match.prior_grants is None or rule_match.prior_grants.holds(Decimal(prior)),
        all(r.holds(facts.numbers.get(name)) for name, r in rule_match.facts.items()),
    )
    return all(checks)


def first_matching_rule(policy: Policy, complaint: ComplaintCreatedV1, history: CustomerHistory) -> Rule:
    facts = ComplaintFacts.of(complaint)
    for rule in policy.rules:
        if matches(rule.match, complaint, facts, history.grants_in_window):
            return rule
    raise AssertionError("unreachable: a policy's last rule matches every complaint")


def make_offer(rule: Rule, complaint: ComplaintCreatedV1, policy: Policy) -> Offer:
    template = rule.offer
    stake = complaint.amount_at_stake
    currency = template.currency or (stake.currency if stake else policy.default_currency)
    spec = template.value
    if spec.fixed is not None:
        value = spec.fixed
    else:
        assert spec.percent_of_stake is not None
        value = (stake.amount if stake else Decimal("0")) * spec.percent_of_stake / 100
        value = max(value, spec.minimum)
        if spec.maximum is not None:
            value = min(value, spec.maximum)
    value = value.quantize(CENT, ROUND_HALF_UP)
    cost = (value * template.cost_ratio).quantize(CENT, ROUND_HALF_UP)
    return Offer(
        kind=template.kind,
        description=template.description.format(value=value, currency=currency)[:500],
        value=Money(amount=value, currency=currency),
        cost=Money(amount=cost, currency=currency),
        percentage=template.percentage,
    )


def required_role(policy: Policy, value: Money) -> Role | None:
    """The lowest role whose limit covers the value; None when no one's does (or no limit is set)."""
    for role in ROLES:
        limit = policy.limit(role, value.currency)
        if limit is not None and value.amount <= limit:
            return role
    return None


def value_in(policy: Policy, history: CustomerHistory, currency: str) -> Decimal | None:
    """The customer's live decisions in the window, in `currency`, converted with the policy's
    rates; None when a currency has no rate (the value cannot be told)."""
    target = policy.rate(currency)
    total = Decimal(0)
    for held_in, amount in history.value_by_currency.items():
        rate = policy.rate(held_in)
        if rate is None or target is None:
            return None
        total += amount if held_in == currency else amount * rate / target
    return total.quantize(CENT, ROUND_HALF_UP)


def cap_check(policy: Policy, offer: Offer, history: CustomerHistory) -> tuple[Status, str, str] | None:
    """The per-customer caps: how many live decisions, and their value across currencies."""
    limits = policy.abuse
    if history.live_in_window >= limits.max_grants:
        return (
            "refused",
            "abuse.customer-count-cap",
            f"{limits.max_grants} granted or waiting in {limits.window_days} days",
        )
    so_far = value_in(policy, history, offer.value.currency)
    if so_far is None:
        return "held", "abuse.unknown-rate", "a currency of the customer's decisions has no rate"
    cap = limits.max_value.get(offer.value.currency)
    if cap is not None and so_far + offer.value.amount > cap:
        return "refused", "abuse.customer-value-cap", f"over {cap} {offer.value.currency} in the window"
    return None


def abuse_check(
    policy: Policy, offer: Offer, facts: ComplaintFacts, history: CustomerHistory, today: date
) -> tuple[Status, str, str] | None:
    """The first abuse rule the grant would break: (refused|held, rule id, reason), or None."""
    limits = policy.abuse
    if offer.value.amount == 0:
        return None  # an apology costs nothing and cannot be abused
    if history.order_already_compensated:
        return "refused", "abuse.same-order", "this order was already compensated"
    capped = cap_check(policy, offer, history)
    if capped is not None:
        return capped
    if len(history.channels_in_velocity_window) > limits.max_channels:
        return (
            "held",
            "abuse.channel-velocity",
            f"complaints through more than {limits.max_channels} channels",
        )
    if history.customers_sharing_contact > limits.max_customers_per_contact:
        return "held", "abuse.shared-contact", "contact details shared by several customers"
    if facts.purchased_on is not None and (today - facts.purchased_on).days < limits.min_days_after_purchase:
        return (
            "held",
            "abuse.soon-after-purchase",
            f"within {limits.min_days_after_purchase} days of purchase",
        )
    share = limits.max_share_of_spend
    claimed = (value_in(policy, history, offer.value.currency) or Decimal(0)) + offer.value.amount
    if share is not None and facts.spend is not None and claimed > facts.spend * share:
        return "held", "abuse.share-of-spend", "claims are high against the customer's spend"
    return None


def decide(
    complaint: ComplaintCreatedV1,
    policy: Policy,
    history: CustomerHistory | None = None,
    now: datetime | None = None,
) -> Decision:
    """The automatic decision for a newly filed complaint.

    What intake knows of the complaint comes first: a duplicate (the same matter filed again soon)
    is refused, whatever the offer, since its original is compensated already; a flagged
    customer's grant is held for a person (statutory entitlements and apologies excepted).
    """
    history = history or CustomerHistory()
    rule = first_matching_rule(policy, complaint, history)
    offer = make_offer(rule, complaint, policy)
    judged = judge(policy, rule.id, offer, complaint, history, now, statutory=rule.statutory)
    if complaint.repeat_kind == "duplicate":
        reason = f"duplicate of complaint {complaint.repeat_of}, which is compensated on its own"
        return replace(judged, status="refused", rule_id=DUPLICATE_RULE, reason=reason)
    rewards = judged.status in ("granted", "pending_approval") and offer.value.amount > 0
    if complaint.customer_flags and rewards and not rule.statutory:
        reason = f"customer flagged {', '.join(complaint.customer_flags)}: review, do not reward"
        return replace(judged, status="held", rule_id=FLAGGED_RULE, reason=reason)
    return judged


def judge(
    policy: Policy,
    offer_rule_id: str,
    offer: Offer,
    complaint: ComplaintCreatedV1,
    history: CustomerHistory,
    now: datetime | None = None,
    *,
    statutory: bool = False,
    proposer_role: Role = "agent",
) -> Decision:
    """Check an offer (from a rule or an agent's proposal) against abuse rules and authority."""
    facts = ComplaintFacts.of(complaint)
    today = (now or datetime.now(UTC)).date()

    def decision(status: Status, rule_id: str, role: Role, reason: str | None = None) -> Decision:
        return Decision(
            status=status,
            rule_id=rule_id,
            offer_rule_id=offer_rule_id,
            policy_version=policy.version,
            offer=offer,
            required_role=role,
            reason=reason,
            statutory=statutory,
            order_ref=facts.order_ref,
        )

    stopped = None if statutory else abuse_check(policy, offer, facts, history, today)
    if stopped is not None:
        status, rule_id, reason = stopped
        return decision(status, rule_id, required_role(policy, offer.value) or "manager", reason)
    role = "agent" if statutory else required_role(policy, offer.value)
    if role is None:
        reason = f"{offer.value.amount} {offer.value.currency} is above every authority limit"
        return decision("refused", "authority.no-limit", "manager", reason)
    if ROLES.index(role) <= ROLES.index(proposer_role):
        return decision("granted", offer_rule_id, role)
    reason = f"above the {proposer_role}'s limit: needs a {role}"
    return decision("pending_approval", offer_rule_id, role, reason)


def priced(
    policy: Policy, kind: OfferKind, description: str, value: Money, percentage: Decimal | None
) -> Offer:
    """An agent's offer with its cost worked out here, from the policy, never taken from the caller."""
    cost = (value.amount * policy.cost_ratio(kind)).quantize(CENT, ROUND_HALF_UP)
    return Offer(
        kind=kind,
        description=description,
        value=value,
        cost=Money(amount=cost, currency=value.currency),
        percentage=percentage,
    )


def new_voucher_code() -> str:
    """16 random characters from a 30-letter alphabet: about 78 bits, unguessable, easy to read out."""
    body = "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(16))
    return "-".join(body[i : i + 4] for i in range(0, 16, 4))
