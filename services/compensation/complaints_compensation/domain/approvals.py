"""Who may sign off a waiting decision: pure rules, no I/O.

A decision above the proposer's authority (or held by an abuse rule) waits for a supervisor. An
approver whose limit covers the value grants it; a sign-off above the approver's own limit is recorded
and the decision passes to the next level. Nobody approves what they proposed, and no one person signs
two levels of the same decision (four eyes, enforced here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from complaints_common.events.contracts import Money
from complaints_compensation.domain.rules import ROLES, Policy, Role

WAITING = frozenset({"pending_approval", "held"})


class SignOffRefused(Exception):
    """The approver may not sign this decision; the message says why (safe to show)."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


@dataclass(frozen=True, slots=True)
class Waiting:
    status: str
    proposed_by: str
    signed_by: tuple[tuple[str, Role], ...]  # (who, role) of earlier approvals, oldest first
    value: Money


@dataclass(frozen=True, slots=True)
class SignOff:
    outcome: Literal["granted", "passed_on", "rejected"]
    awaiting: Role | None  # who must sign next when passed on


def awaiting_role(waiting: Waiting) -> Role:
    """The first level, or the level above the highest one that has signed already."""
    if not waiting.signed_by:
        return "supervisor"
    highest = max(ROLES.index(role) for _, role in waiting.signed_by)
    return ROLES[min(highest + 1, len(ROLES) - 1)]


def check_signer(waiting: Waiting, approver: str, role: Role) -> None:
    if waiting.status not in WAITING:
        raise SignOffRefused(f"The decision is {waiting.status}, not waiting for approval.", conflict=True)
    if role == "agent":
        raise SignOffRefused("Agents cannot approve; a supervisor or manager must.")
    if approver == waiting.proposed_by:
        raise SignOffRefused("Nobody approves what they proposed.")
    if any(approver == who for who, _ in waiting.signed_by):
        raise SignOffRefused("Four eyes: this person has already signed this decision.")
    needed = awaiting_role(waiting)
    if ROLES.index(role) < ROLES.index(needed):
        raise SignOffRefused(f"The decision awaits a {needed}.")


def approve(waiting: Waiting, approver: str, role: Role, policy: Policy) -> SignOff:
    check_signer(waiting, approver, role)
    limit = policy.limit(role, waiting.value.currency)
    if limit is not None and waiting.value.amount <= limit:
        return SignOff("granted", None)
    if role == ROLES[-1]:
        raise SignOffRefused("The value is above every authority limit.", conflict=True)
    return SignOff("passed_on", ROLES[ROLES.index(role) + 1])


def reject(waiting: Waiting, approver: str, role: Role) -> SignOff:
    check_signer(waiting, approver, role)
    return SignOff("rejected", None)
