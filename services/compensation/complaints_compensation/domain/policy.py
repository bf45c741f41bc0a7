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
from complaints_compensation.domain.rules import ROLES, Match, Policy, Role, Rule, Value

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
    # Learned from the customer's earlier complaints here (all time, not the abuse window).
    prior_complaints: int = 0
    first_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class ComplaintFacts:
    """What the rules look at, taken from the complaint and its `name:value` tags."""

    industry: str | None
    tags: frozenset[str]
    numbers: dict[str, Decimal]
    order_ref: str | None
    purchased_on: date | None
    spend: Decimal | None
    customer_since: date | None = None
    lifetime_spend: Decimal | None = None

    @classmethod
    def of(cls, complaint: ComplaintCreatedV1) -> ComplaintFacts:
        pairs = dict(tag.split(":", 1) for tag in complaint.tags if ":" in tag)
        numbers: dict[str, Decimal] = {}
        for name, raw in pairs.items():
            try:
                numbers[name] = Decimal(raw)
            except InvalidOperation:
                continue
        return cls(
            industry=pairs.get("industry"),
            tags=frozenset(complaint.tags),
            numbers=numbers,
            order_ref=pairs.get("order"),
            purchased_on=_date_tag(pairs, "purchased"),
            spend=numbers.get("spend"),
            customer_since=_date_tag(pairs, "customer_since"),
            lifetime_spend=numbers.get("lifetime_spend"),
        )

    def tenure_years(self, history: CustomerHistory, today: date) -> Decimal | None:
        """Years a customer: since the CRM's `customer_since`, else since their first complaint here."""
        since = self.customer_since or (history.first_seen.date() if history.first_seen else None)
        if since is None:
            return None
        return (Decimal((today - since).days) / Decimal("365.25")).quantize(Decimal("0.01"))


def _date_tag(pairs: dict[str, str], name: str) -> date | None:
    try:
        return date.fromisoformat(pairs[name]) if name in pairs else None
    except ValueError:
        return None


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


def matches(
    rule_match: Match,
    complaint: ComplaintCreatedV1,
    facts: ComplaintFacts,
    history: CustomerHistory,
    today: date,
) -> bool:
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
        rule_match.prior_grants is None or rule_match.prior_grants.holds(Decimal(history.grants_in_window)),
        all(r.holds(facts.numbers.get(name)) for name, r in rule_match.facts.items()),
        rule_match.tenure_years is None or rule_match.tenure_years.holds(facts.tenure_years(history, today)),
        rule_match.lifetime_spend is None or rule_match.lifetime_spend.holds(facts.lifetime_spend),
        rule_match.prior_complaints is None
        or rule_match.prior_complaints.holds(Decimal(history.prior_complaints)),
    )
    return all(checks)


def first_matching_rule(
    rules: list[Rule], complaint: ComplaintCreatedV1, history: CustomerHistory, today: date
) -> Rule | None:
    facts = ComplaintFacts.of(complaint)
    return next((rule for rule in rules if matches(rule.match, complaint, facts, history, today)), None)


def customer_factor(
    policy: Policy, complaint: ComplaintCreatedV1, history: CustomerHistory, today: date
) -> Decimal:
    """How much more generous the policy is with this customer (1 for a new, untiered one)."""
    tenure = ComplaintFacts.of(complaint).tenure_years(history, today)
    return policy.customer_value.factor(complaint.customer.tier, tenure)


def _amount(spec: Value, stake: Money | None, factor: Decimal) -> Decimal:
    """A value, floor and cap scaled by what the customer is worth (statutory ones are not)."""
    factor = factor if spec.by_customer_value else Decimal(1)
    if spec.fixed is not None:
        value = spec.fixed * factor
    else:
        assert spec.percent_of_stake is not None
        value = (stake.amount if stake else Decimal("0")) * spec.percent_of_stake / 100 * factor
        value = max(value, spec.minimum * factor)
        if spec.maximum is not None:
            value = min(value, spec.maximum * factor)
    return value.quantize(CENT, ROUND_HALF_UP)


def make_offer(
    rule: Rule, complaint: ComplaintCreatedV1, policy: Policy, factor: Decimal = Decimal(1)
) -> Offer:
    template = rule.offer
    stake = complaint.amount_at_stake
    currency = template.currency or (stake.currency if stake else policy.default_currency)
    factor = Decimal(1) if rule.statutory else factor
    fix = _amount(template.value, stake, factor)
    trouble = _amount(template.for_trouble, stake, factor) if template.for_trouble else Decimal("0.00")
    value = fix + trouble
    cost = (value * template.cost_ratio).quantize(CENT, ROUND_HALF_UP)
    text = template.describe(complaint.customer.language)
    return Offer(
        kind=template.kind,
        description=text.format(value=fix, currency=currency, trouble=trouble)[:500],
        value=Money(amount=value, currency=currency),
        cost=Money(amount=cost, currency=currency),
        percentage=template.percentage,
    )


def required_role(policy: Policy, value: Money, tier: str | None = None) -> Role | None:
    """The lowest role whose limit covers the value (the agent's raised for a valued tier); None
    when no one's does (or no limit is set)."""
    for role in ROLES:
        limit = policy.limit(role, value.currency, tier)
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
    today = (now or datetime.now(UTC)).date()
    rule = first_matching_rule(policy.rules, complaint, history, today)
    assert rule is not None, "a policy's last rule matches every complaint"
    offer = make_offer(rule, complaint, policy, customer_factor(policy, complaint, history, today))
    judged = judge(policy, rule.id, offer, complaint, history, now, statutory=rule.statutory)
    if complaint.repeat_kind == "duplicate":
        reason = f"duplicate of complaint {complaint.repeat_of}, which is compensated on its own"
        return replace(judged, status="refused", rule_id=DUPLICATE_RULE, reason=reason)
    rewards = judged.status in ("granted", "pending_approval") and offer.value.amount > 0
    if complaint.customer_flags and rewards and not rule.statutory:
        reason = f"customer flagged {', '.join(complaint.customer_flags)}: review, do not reward"
        return replace(judged, status="held", rule_id=FLAGGED_RULE, reason=reason)
    return judged


@dataclass(frozen=True, slots=True)
class Option:
    """One offer the agent may make: the rule that makes it, and the offer itself."""

    option_id: str
    offer: Offer


def wants_options(policy: Policy, complaint: ComplaintCreatedV1) -> bool:
    """Whether an agent is on the line to give the customer a choice (else the automatic grant)."""
    return complaint.agent_id is not None and complaint.channel in policy.frontline_options.channels


def frontline_options(
    policy: Policy, complaint: ComplaintCreatedV1, history: CustomerHistory, now: datetime | None = None
) -> list[Option]:
    """Two or three offers of different kinds the front line may make without asking anyone: the
    policy's own offer (the fix) first, then the matching alternatives, each within the agent's
    authority for this customer and clear of the abuse rules. Fewer when fewer qualify (the caller
    then makes the automatic decision, which names the rule that stopped an offer). None where the
    policy's own offer is words only (a repeat complainer, the customer's own mistake, an
    extraordinary circumstance): a choice of money there would reward what the rule refuses to."""
    if complaint.repeat_kind == "duplicate" or complaint.customer_flags:
        return []  # nothing to offer at the front line: the automatic decision refuses or holds
    today = (now or datetime.now(UTC)).date()
    factor = customer_factor(policy, complaint, history, today)
    primary = first_matching_rule(policy.rules, complaint, history, today)
    assert primary is not None, "a policy's last rule matches every complaint"
    if primary.offer.kind == "apology":
        return []
    candidates = [primary, *policy.frontline_options.alternatives]
    facts = ComplaintFacts.of(complaint)
    chosen: list[Option] = []
    for rule in candidates:
        if len(chosen) >= policy.frontline_options.count:
            break
        if rule is not primary and not matches(rule.match, complaint, facts, history, today):
            continue
        offer = make_offer(rule, complaint, policy, factor)
        if any(o.offer.kind == offer.kind for o in chosen):
            continue  # options of different kinds: a choice, not three of the same
        verdict = judge(policy, rule.id, offer, complaint, history, now, statutory=rule.statutory)
        if verdict.status == "granted":
            chosen.append(Option(rule.id, offer))
    return chosen


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
    tier = complaint.customer.tier

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
        return decision(status, rule_id, required_role(policy, offer.value, tier) or "manager", reason)
    role = "agent" if statutory else required_role(policy, offer.value, tier)
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
