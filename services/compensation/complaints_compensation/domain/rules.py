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

    @model_validator(mode="after")
    def _one_basis(self) -> Value:
        if (self.fixed is None) == (self.percent_of_stake is None):
            raise ValueError("give exactly one of 'fixed' or 'percent_of_stake'")
        if self.maximum is not None and self.maximum < self.minimum:
            raise ValueError("'maximum' is below 'minimum'")
        return self


# What an offer's description may name; anything else would fail when a decision renders it.
DESCRIPTION_FIELDS = frozenset({"value", "currency"})


class OfferTemplate(Strict):
    """The offer a rule makes. `description` may use {value} and {currency}."""

    kind: OfferKind
    description: str = Field(min_length=1, max_length=400)
    value: Value
    cost_ratio: Annotated[Decimal, Field(ge=0, le=1)] = Field(
        description="Our cost as a share of the retail value (a coupon costs us about 40%)."
    )
    percentage: Annotated[Decimal, Field(ge=0, le=100)] | None = None
    currency: Currency | None = Field(default=None, description="Fixes the currency (e.g. EU261 is EUR).")

    @field_validator("description")
    @classmethod
    def _fillable(cls, description: str) -> str:
        """Refused here, at load or PUT, rather than failing a decision later."""
        try:
            fields = [f for _, f, spec, conv in string.Formatter().parse(description) if f is not None]
            description.format(value=Decimal("1.00"), currency="EUR")
        except (ValueError, IndexError, KeyError, AttributeError) as exc:
            raise ValueError(f"the description cannot be filled in: {exc}") from exc
        unknown = sorted(set(fields) - DESCRIPTION_FIELDS)
        if unknown:
            raise ValueError(f"the description names unknown placeholders: {', '.join(unknown)}")
        return description

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
        ids = [rule.id for rule in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids must be unique: {', '.join(duplicates)}")
        if not self.rules[-1].match.is_catch_all:
            raise ValueError("the last rule must match every complaint (an empty 'match')")
        return self

    def limit(self, role: Role, currency: str) -> Decimal | None:
        return self.authority[role].get(currency)

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
