"""The content a regulator requires of a letter to the customer, as data (data/letters.yaml).

A letter gets the approved wording of each required element in the customer's language; when one
is missing in that language the letter is refused before anything is sent, rather than sent
without it or in a language the customer did not choose. Pure rules, no I/O beyond reading the data.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field

from complaints_common.events.contracts import Money, Outcome
from complaints_intake.domain.deadlines import Letter


@dataclass(frozen=True, slots=True)
class LetterDraft:
    """A letter about to be sent: its regime's required content already in `language`."""

    kind: Letter
    regime: str | None
    language: str
    required_content: list[str]
    outcome: Outcome | None = None
    redress: Money | None = None
    explanation: str | None = None


class Element(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=60)
    wording: dict[str, str] = Field(description="Approved text per language (primary tag).")


class LetterRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    regimes: dict[str, dict[Letter, list[Element]]]

    def required_content(self, regime: str | None, kind: Letter, language: str) -> list[str]:
        """The required paragraphs in `language`, in order; LetterIncomplete naming what is missing."""
        elements = self.regimes.get(regime or "", {}).get(kind, [])
        primary = language.lower().split("-")[0]
        missing = [e.id for e in elements if primary not in e.wording]
        if missing:
            raise LetterIncomplete(kind, language, missing)
        return [" ".join(e.wording[primary].split()) for e in elements]


class LetterIncomplete(ValueError):
    """A letter would lack content its regulator requires."""

    def __init__(self, kind: Letter, language: str, missing: list[str]) -> None:
        super().__init__(
            f"The {kind.replace('_', ' ')} would lack required content in '{language}': "
            f"{', '.join(missing)}. Add the approved wording to the letter rules."
        )
        self.missing = missing


@functools.cache
def shipped_letters() -> LetterRules:
    text = (resources.files("complaints_intake") / "data" / "letters.yaml").read_text()
    return LetterRules.model_validate(yaml.safe_load(text))
