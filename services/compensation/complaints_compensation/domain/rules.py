"""The compensation policy as data: a versioned rule set, validated with pydantic.

A policy is an ordered list of rules (the first rule that matches a complaint makes the offer), an
authority matrix (how much each role may grant, per currency), abuse limits and a spend budget. It is
loaded from YAML (the default ships in `default_policy.yaml`) and replaced over REST; every decision
records the policy version and the rule that made it. Amounts are decimals, never floats.
"""

from __future__ import annotations

import string
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from complaints_common.events.contracts import Channel, OfferKind, Severity
from complaints_common.validation import AmountText, SupportedCurrency

DEFAULT_POLICY_FILE = Path(__file__).with_name("default_policy.yaml")
# Amounts as decimal strings (YAML numbers are read as decimals, never floats); currencies the
# platform supports.
Amount = AmountText
Currency = SupportedCurrency
Role = Literal["agent", "supervisor", "manager"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "manager")
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")]


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Range(Strict):
    """An inclusive numeric range; either end may be open."""

    min: Decimal | None = None
    max: Decimal | None = None

    def holds(self, value: Decimal | None) -> bool:
        if value is None:
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class Match(Strict):
    """What a complaint must look like for a rule to apply. An empty match applies to every complaint.

    Lists mean "any of"; `facts` are numeric tags of the form `name:value` (e.g. `distance_km:1800`);
    `prior_grants` is the customer's count of grants within the abuse window (recent history).
    """

    industries: list[str] = Field(default_factory=list, description="From the tag `industry:<name>`.")
    categories: list[str] = Field(default_factory=list)
    products: list[str] = Field(default_factory=list)
    severities: list[Severity] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    tiers: list[str] = Field(default_factory=list)
    tags_all: list[str] = Field(default_factory=list)
    tags_none: list[str] = Field(default_factory=list)
    amount_at_stake: Range | None = None
    prior_grants: Range | None = None
    facts: dict[str, Range] = Field(default_factory=dict)
    # What the customer is worth to the business (see `CustomerValue`): years since the tag
    # `customer_since:YYYY-MM-DD` (else since their first complaint here), the tag
    # `lifetime_spend:<amount>`, and their complaints filed before this one.
    tenure_years: Range | None = None
    lifetime_spend: Range | None = None
    prior_complaints: Range | None = None

    @property
    def is_catch_all(self) -> bool:
        return self == Match()


class Value(Strict):
    """The offer's value to the customer, at retail: fixed, or a percentage of what is at stake
    clamped to [minimum, maximum] (the minimum when nothing is at stake)."""

    fixed: Amount | None = None
    percent_of_stake: Annotated[Decimal, Field(ge=0, le=1000)] | None = None
    minimum: Amount = Decimal("0")
    maximum: Amount | None = None
    by_customer_value: bool = Field(
        default=True,
        description=(
            "Whether the customer's value factor (customer_value) scales it; false for what is owed "
            "as it is, such as the money at stake refunded."
        ),
    )

    @model_validator(mode="after")
    def _one_basis(self) -> Value:
        if (self.fixed is None) == (self.percent_of_stake is None):
            raise ValueError("give exactly one of 'fixed' or 'percent_of_stake'")
        if self.maximum is not None and self.maximum < self.minimum:
            raise ValueError("'maximum' is below 'minimum'")
        return self


# What an offer's description may name; anything else would fail when a decision renders it.
DESCRIPTION_FIELDS = frozenset({"value", "currency", "trouble"})
Locale = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")]


def _check_description(description: str) -> str:
    """Refused at load or PUT, rather than failing a decision later."""
    try:
        fields = [f for _, f, spec, conv in string.Formatter().parse(description) if f is not None]
        unknown = sorted(set(fields) - DESCRIPTION_FIELDS)
        if unknown:
            raise ValueError(f"the description names unknown placeholders: {', '.join(unknown)}")
        description.format(value=Decimal("1.00"), currency="EUR", trouble=Decimal("1.00"))
    except (IndexError, KeyError, AttributeError) as exc:
        raise ValueError(f"the description cannot be filled in: {exc}") from exc
    return description


class OfferTemplate(Strict):
    """The offer a rule makes. `description` (the default text, English in the shipped policy) and
    each of `descriptions` (per locale: `ru`, `fa`, `pt-br`...) may use {value}, {currency} and
    {trouble}; the customer's language picks the text (see `describe`)."""

    kind: OfferKind
    description: str = Field(min_length=1, max_length=400)
    descriptions: dict[Locale, Annotated[str, Field(min_length=1, max_length=400)]] = Field(
        default_factory=dict,
        description="The description in other languages, by lower-case BCP 47 tag.",
    )
    value: Value
    for_trouble: Value | None = Field(
        default=None,
        description=(
            "Something for the customer's trouble on top of the fix (a credit, in the same currency): "
            "its value is added to the offer's and named by {trouble} in the description."
        ),
    )
    cost_ratio: Annotated[Decimal, Field(ge=0, le=1)] = Field(
        description="Our cost as a share of the retail value (a coupon costs us about 40%)."
    )
    percentage: Annotated[Decimal, Field(ge=0, le=100)] | None = None
    currency: Currency | None = Field(default=None, description="Fixes the currency (e.g. EU261 is EUR).")

    @field_validator("description")
    @classmethod
    def _fillable(cls, description: str) -> str:
        return _check_description(description)

    @field_validator("descriptions")
    @classmethod
    def _each_fillable(cls, descriptions: dict[str, str]) -> dict[str, str]:
        for text in descriptions.values():
            _check_description(text)
        return descriptions

    def describe(self, language: str | None) -> str:
        """The description in the customer's language: the exact tag (`pt-br`), then its primary
        language (`pt`), then the default `description`."""
        tag = (language or "").strip().lower().replace("_", "-")
        parts = tag.split("-") if tag else []
        for i in range(len(parts), 0, -1):
            text = self.descriptions.get("-".join(parts[:i]))
            if text is not None:
                return text
        return self.description

    @model_validator(mode="after")
    def _percentage_for_discounts(self) -> OfferTemplate:
        if (self.kind == "percentage_discount") != (self.percentage is not None):
            raise ValueError("a percentage_discount needs 'percentage', and only it")
        return self


class Rule(Strict):
    id: RuleId
    description: str = Field(min_length=1, max_length=400)
    match: Match = Field(default_factory=Match)
    offer: OfferTemplate
    statutory: bool = Field(
        default=False, description="A legal entitlement (e.g. EU261): granted without approval."
    )


class TenureFactor(Strict):
    min_years: Annotated[Decimal, Field(ge=0)]
    factor: Annotated[Decimal, Field(ge=1, le=5)]


class CustomerValue(Strict):
    """How what a customer is worth sizes their offers and the front line's authority for them.

    An offer's value (its floor and cap too) is multiplied by the customer's tier factor and by the
    factor of the longest tenure band they reach; `frontline_authority` raises the agent's limit for
    a tier, so a valued customer's larger offer is still settled on the call.
    """

    tier_factors: dict[str, Annotated[Decimal, Field(ge=1, le=5)]] = Field(default_factory=dict)
    tenure_factors: list[TenureFactor] = Field(default_factory=list, max_length=20)
    frontline_authority: dict[str, Annotated[Decimal, Field(ge=1, le=5)]] = Field(
        default_factory=dict,
        description="Agent limit multiplier per tier (supervisors' limits are not changed).",
    )
    max_factor: Annotated[Decimal, Field(ge=1, le=5)] = Decimal("2")

    def factor(self, tier: str | None, tenure_years: Decimal | None) -> Decimal:
        factor = self.tier_factors.get(tier or "", Decimal(1))
        if tenure_years is not None:
            reached = [band.factor for band in self.tenure_factors if tenure_years >= band.min_years]
            factor *= max(reached, default=Decimal(1))
        return min(factor, self.max_factor)


class FrontlineOptions(Strict):
    """The options an agent gives the customer instead of one automatic offer.

    Where an agent is on the line (the complaint names its agent and came in on one of `channels`),
    compensation computes up to `count` offers of different kinds: the first matching policy rule (the
    fix), then the first matching `alternatives` (a goodwill gesture, a refund where something is at
    stake), each within the agent's authority. The agent records the customer's choice; without one
    after `choose_within_minutes`, the first option is granted automatically, so nobody waits for ever.
    """

    channels: list[Channel] = Field(default_factory=list)
    count: int = Field(default=3, ge=2, le=3)
    choose_within_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    alternatives: list[Rule] = Field(default_factory=list, max_length=20)


class AbuseLimits(Strict):
    """Per-customer caps over a rolling window and the velocity signals billing teams use."""

    window_days: int = Field(default=30, ge=1, le=366)
    max_grants: int = Field(default=10, ge=0)
    max_value: dict[Currency, Amount] = Field(default_factory=dict)
    velocity_hours: int = Field(default=24, ge=1, le=24 * 30)
    max_channels: int = Field(default=3, ge=1, description="Distinct channels complained through.")
    max_customers_per_contact: int = Field(default=3, ge=1, description="Customers sharing an e-mail/phone.")
    min_days_after_purchase: int = Field(default=0, ge=0, description="From the tag `purchased:YYYY-MM-DD`.")
    max_share_of_spend: Annotated[Decimal, Field(ge=0)] | None = Field(
        default=None, description="Claims in the window against the tag `spend:<amount>` (12-month spend)."
    )
    rates: dict[Currency, Annotated[Decimal, Field(gt=0)]] = Field(
        default_factory=dict,
        description=(
            "What one unit of each currency is worth in the policy's default currency: the caps count "
            "a customer's live decisions in every currency, converted with these rates."
        ),
    )


class Budget(Strict):
    period: Literal["month"] = "month"
    amounts: dict[Currency, Amount] = Field(default_factory=dict)


class Policy(Strict):
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
    description: str = Field(default="", max_length=2000)
    default_currency: Currency = "EUR"
    authority: dict[Role, dict[Currency, Amount]]
    abuse: AbuseLimits = Field(default_factory=AbuseLimits)
    budget: Budget = Field(default_factory=Budget)
    customer_value: CustomerValue = Field(default_factory=CustomerValue)
    frontline_options: FrontlineOptions = Field(default_factory=FrontlineOptions)
    rules: list[Rule] = Field(min_length=1, max_length=1000)

    @field_validator("authority")
    @classmethod
    def _every_role_ascending(
        cls, authority: dict[Role, dict[str, Decimal]]
    ) -> dict[Role, dict[str, Decimal]]:
        missing = [role for role in ROLES if role not in authority]
        if missing:
            raise ValueError(f"authority needs a limit for every role; missing: {', '.join(missing)}")
        for currency, agent_limit in authority["agent"].items():
            ladder = [authority[role].get(currency) for role in ROLES]
            if None in ladder or not (agent_limit <= ladder[1] <= ladder[2]):  # type: ignore[operator]
                raise ValueError(f"{currency}: limits must exist for every role and rise agent -> manager")
        return authority

    @model_validator(mode="after")
    def _a_rate_for_every_currency(self) -> Policy:
        currencies = {c for limits in self.authority.values() for c in limits} | set(self.abuse.max_value)
        missing = sorted(currencies - set(self.abuse.rates) - {self.default_currency})
        if missing:
            raise ValueError(f"abuse.rates needs a rate for every currency granted: {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _unique_ids_and_catch_all(self) -> Policy:
        ids = [rule.id for rule in (*self.rules, *self.frontline_options.alternatives)]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids must be unique: {', '.join(duplicates)}")
        if not self.rules[-1].match.is_catch_all:
            raise ValueError("the last rule must match every complaint (an empty 'match')")
        return self

    def limit(self, role: Role, currency: str, tier: str | None = None) -> Decimal | None:
        """The role's limit; the agent's is raised for a tier the policy values more."""
        limit = self.authority[role].get(currency)
        if limit is None or role != "agent":
            return limit
        return (limit * self.customer_value.frontline_authority.get(tier or "", Decimal(1))).quantize(
            Decimal("0.01")
        )

    def rate(self, currency: str) -> Decimal | None:
        """One unit of `currency` in the default currency; None when the policy sets no rate."""
        return Decimal(1) if currency == self.default_currency else self.abuse.rates.get(currency)

    def cost_ratio(self, kind: str) -> Decimal:
        """Our cost as a share of the retail value of an offer of this kind: the first rule that
        offers this kind says it; without one, the full value (the cautious figure)."""
        return next((rule.offer.cost_ratio for rule in self.rules if rule.offer.kind == kind), Decimal(1))


def parse_policy(document: dict[str, Any]) -> Policy:
    return Policy.model_validate(document)


def load_policy_file(path: Path = DEFAULT_POLICY_FILE) -> Policy:
    """Read a YAML policy. Numbers are read as text first so no amount passes through a float."""
    return parse_policy(yaml.load(path.read_text(), Loader=_DecimalLoader))  # noqa: S506 - safe loader


class _DecimalLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that reads YAML numbers as Decimal."""


_DecimalLoader.add_constructor(
    "tag:yaml.org,2002:float", lambda loader, node: Decimal(loader.construct_scalar(node))
)
# Whole numbers too: an amount such as `fixed: 0` is a decimal like any other (counts and days
# take a whole Decimal as their int).
_DecimalLoader.add_constructor(
    "tag:yaml.org,2002:int", lambda loader, node: Decimal(loader.construct_scalar(node))
)
