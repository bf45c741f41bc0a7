"""What a recorded call-back means: pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """The published outcome (`followup.outcome`'s `outcome`)."""

    SATISFIED = "satisfied"
    DISSATISFIED = "dissatisfied"
    NOT_REACHED = "not_reached"  # another attempt follows
    UNREACHABLE = "unreachable"  # the last attempt failed: the follow-up is closed


class NextStep(StrEnum):
    NONE = "none"
    RETRY = "retry"  # schedule the next attempt
    ASK_FOR_REVIEW = "ask_for_review"  # a happy customer: schedule a review request


@dataclass(frozen=True, slots=True)
class CallBack:
    """What the agent recorded."""

    reached: bool
    satisfied: bool | None
    csat: int | None
    nps: int | None


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    next_step: NextStep


# "Happy" as the review rule means it: top-two-box CSAT, or an NPS promoter.
HAPPY_CSAT = 4
PROMOTER_NPS = 9
DETRACTOR_NPS = 6


def judge(call: CallBack, attempt: int, max_attempts: int) -> Verdict:
    """Not reached: retry until the last attempt, then unreachable. Reached: satisfied or not."""
    if not call.reached:
        if attempt < max_attempts:
            return Verdict(Outcome.NOT_REACHED, NextStep.RETRY)
        return Verdict(Outcome.UNREACHABLE, NextStep.NONE)
    if call.satisfied:
        return Verdict(Outcome.SATISFIED, NextStep.ASK_FOR_REVIEW if is_happy(call) else NextStep.NONE)
    return Verdict(Outcome.DISSATISFIED, NextStep.NONE)


def is_happy(call: CallBack) -> bool:
    """Ask for a review only when the scores say so; a bare 'yes' without scores is not enough."""
    return bool(call.satisfied) and (
        (call.csat is not None and call.csat >= HAPPY_CSAT)
        or (call.nps is not None and call.nps >= PROMOTER_NPS)
    )


def net_promoter_score(promoters: int, detractors: int, answered: int) -> float | None:
    """NPS = % promoters (9-10) - % detractors (0-6), over those who gave a score."""
    if answered == 0:
        return None
    return round(100.0 * (promoters - detractors) / answered, 1)
