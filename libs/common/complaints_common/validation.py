"""The input types every service's request models are built from: one way to take each kind of value.

- **Money**: an ISO 4217 currency the platform supports (`SUPPORTED_CURRENCIES`) and an amount as a
  decimal *string* (`"25.00"`): never a JSON number, which a client's float may already have
  rounded, and never an exponent (`"1e3"`).
- **Languages**: a BCP 47 tag (RFC 5646: language, optional script, region and variants, e.g.
  `en`, `pt-BR`, `sr-Latn-RS`) whose language is an ISO 639-1 code. Messages are written in the
  most specific locale shipped, then its language alone, then English (`pt-BR` -> `pt` -> `en`).
- **Times**: with a time zone (an offset or `Z`) and within the bounds the field states (e.g. a
  problem that happened up to a century ago and not in the future; a call-back planned from now to
  a year ahead, by the service's clock).
- **Text**: a required text is more than blanks.
- **Unknown fields** are refused (`RequestModel`): a typo is a 422 naming the field, not silently
  dropped.

Values from Python (a `Decimal` the code computed) pass as they are; the checks are for what
arrives as JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from complaints_common.events.contracts import Money

# The currencies prices, caps and vouchers are kept in (ISO 4217, active codes). Each is a currency
# the compensation policy may grant in once it gives a rate and limits for it.
SUPPORTED_CURRENCIES = frozenset(
    {
        "AED", "AUD", "BGN", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF",
        "ILS", "INR", "JPY", "KRW", "MXN", "NOK", "NZD", "PLN", "RON", "SAR", "SEK", "SGD", "TRY",
        "USD", "ZAR",
    }
)  # fmt: skip
# ISO 639-1: the two-letter language codes (the primary subtag of a BCP 47 tag).
_ISO_639_1_CODES = """
aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de
dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia
id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo
lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl
ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk
tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
"""
ISO_639_1 = frozenset(_ISO_639_1_CODES.split())
# RFC 5646 language tag, the parts a complaint needs: language, script, region, variants.
BCP47 = re.compile(
    r"^([A-Za-z]{2})(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|[0-9]{3}))?(-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*$"
)
AMOUNT_TEXT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")


class RequestModel(BaseModel):
    """The base of every request body: unknown fields are refused (422 naming them)."""

    model_config = ConfigDict(extra="forbid")


def _decimal_text(value: Any) -> Any:
    if isinstance(value, (bool, int, float)):
        raise ValueError('an amount is a decimal string such as "25.00", never a JSON number')
    if isinstance(value, str) and not AMOUNT_TEXT.fullmatch(value):
        raise ValueError(
            'an amount is a decimal string such as "25.00": digits, up to 2 decimals, no exponent'
        )
    return value


def _supported_currency(value: str) -> str:
    if value not in SUPPORTED_CURRENCIES:
        raise ValueError("not an ISO 4217 currency the platform supports")
    return value


def _language(value: str) -> str:
    match = BCP47.fullmatch(value)
    if match is None or match.group(1).lower() not in ISO_639_1:
        raise ValueError("not a BCP 47 language tag with an ISO 639-1 language, e.g. en, ru, pt-BR")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


AmountText = Annotated[
    Decimal,
    BeforeValidator(_decimal_text),
    Field(ge=0, max_digits=14, decimal_places=2),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_TEXT.pattern, "examples": ["25.00"]}),
]
SupportedCurrency = Annotated[
    str,
    AfterValidator(_supported_currency),
    WithJsonSchema({"type": "string", "enum": sorted(SUPPORTED_CURRENCIES), "examples": ["EUR"]}),
]
Language = Annotated[
    str,
    Field(max_length=35),
    AfterValidator(_language),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 35,
            "pattern": BCP47.pattern,
            "description": "BCP 47 tag; messages fall back to its language, then to English.",
            "examples": ["en"],
        }
    ),
]
NonBlank = Annotated[str, AfterValidator(_not_blank)]


class MoneyIn(Money):
    """An amount a caller sends: a supported currency and a decimal string."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: AmountText  # the same Decimal, taken only from a string
    currency: SupportedCurrency


def time_within(
    *, past: timedelta, future: timedelta, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Callable[[datetime], datetime]:
    """A check that a time lies within `past` before and `future` after `now()`."""

    def check(value: datetime) -> datetime:
        at = now()
        if value < at - past:
            raise ValueError(f"too far in the past: at most {_span(past)} before now")
        if value > at + future:
            raise ValueError(f"too far ahead: at most {_span(future)} after now")
        return value

    return check


def refuse_unless_within(
    location: tuple[str, ...], value: datetime, *, now: datetime, past: timedelta, future: timedelta
) -> None:
    """The same bounds for a time a route checks against its own clock (a service whose clock
    can be set, as follow-up's is in tests): a 422 naming the field, like every other."""
    try:
        time_within(past=past, future=future, now=lambda: now)(value)
    except ValueError as exc:
        raise RequestValidationError([{"loc": location, "msg": str(exc), "type": "value_error"}]) from exc


def _span(delta: timedelta) -> str:
    return f"{delta.days} days" if delta.days else f"{int(delta.total_seconds() // 60)} minutes"


# A few minutes ahead is a caller's clock running fast, not the future.
CLOCK_SKEW = timedelta(minutes=5)
# When something already happened: up to a century ago (regulators see complaints about old
# products), not in the future.
CENTURY = timedelta(days=36525)
PastTime = Annotated[AwareDatetime, AfterValidator(time_within(past=CENTURY, future=CLOCK_SKEW))]
# When something is planned: from a moment ago to a year ahead (`refuse_unless_within`).
PLANNED_PAST, PLANNED_FUTURE = CLOCK_SKEW, timedelta(days=366)
# A bound of a query over stored times (filed, recorded): within a century either way (an open
# end such as 2100 is a fair "until further notice"; the year 2300 is a typo).
QueryTime = Annotated[AwareDatetime, AfterValidator(time_within(past=CENTURY, future=CENTURY))]
