"""Regulated handling: which deadline profile and calendar a complaint gets, and the letter a
lifecycle action sends."""

from __future__ import annotations

from complaints_intake.api.models import Transition
from complaints_intake.domain.complaint import ComplaintDraft
from complaints_intake.domain.deadlines import Choice, Letter, Selection, shipped_rules
from complaints_intake.domain.letters import LetterDraft, shipped_letters
from complaints_intake.domain.lifecycle import LETTERS
from complaints_intake.store.complaints import ComplaintRecord


def deadline_basis(tenant: Selection, category: Selection, draft: ComplaintDraft) -> tuple[Choice, Choice]:
    """The profile and the calendar a new complaint gets, each with the reason, from the client's
    tenant-wide settings and those for the complaint's category."""
    rules = shipped_rules()
    profile = rules.profile_for(tenant, category)
    assert profile.name is not None
    return profile, rules.calendar_for(profile.name, draft.customer.region, tenant, category)


def letter_for(row: ComplaintRecord, body: Transition) -> LetterDraft | None:
    """The letter `body`'s action sends, with its regime's required content in the customer's
    language; None for an action that sends none. LetterIncomplete when content is missing."""
    if body.action not in LETTERS:
        return None
    kind = Letter(body.action.value)
    profile = shipped_rules().profiles.get(row.deadline_profile or "")
    regime = profile.regime if profile else None
    language = row.customer.language
    return LetterDraft(
        kind=kind,
        regime=regime,
        language=language,
        required_content=shipped_letters().required_content(regime, kind, language),
        outcome=body.outcome,
        redress=body.redress,
        explanation=body.explanation,
    )
