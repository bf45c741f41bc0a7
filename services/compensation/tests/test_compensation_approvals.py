"""Sign-off rules: levels, four eyes, nobody approves their own proposal (pure, no servers)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from complaints_common.events.contracts import Money
from complaints_compensation.domain.approvals import SignOffRefused, Waiting, approve, awaiting_role, reject
from complaints_compensation.domain.rules import load_policy_file

POLICY = load_policy_file()


def waiting(amount: str, proposed_by: str = "auto", signed: tuple[tuple[str, str], ...] = ()) -> Waiting:
    return Waiting("pending_approval", proposed_by, signed, Money(amount=Decimal(amount), currency="EUR"))  # type: ignore[arg-type]


def test_a_supervisor_grants_within_their_limit() -> None:
    assert approve(waiting("300.00"), "sup-1", "supervisor", POLICY).outcome == "granted"


def test_above_the_supervisors_limit_the_sign_off_passes_to_a_manager() -> None:
    outcome = approve(waiting("900.00"), "sup-1", "supervisor", POLICY)
    assert (outcome.outcome, outcome.awaiting) == ("passed_on", "manager")
    after = waiting("900.00", signed=(("sup-1", "supervisor"),))
    assert awaiting_role(after) == "manager"
    with pytest.raises(SignOffRefused, match="awaits a manager"):
        approve(after, "sup-2", "supervisor", POLICY)
    assert approve(after, "man-1", "manager", POLICY).outcome == "granted"


def test_no_one_signs_two_levels_of_the_same_decision() -> None:
    after = waiting("900.00", signed=(("boss", "supervisor"),))
    with pytest.raises(SignOffRefused, match="Four eyes"):
        approve(after, "boss", "manager", POLICY)


def test_nobody_approves_what_they_proposed() -> None:
    with pytest.raises(SignOffRefused, match="proposed"):
        approve(waiting("300.00", proposed_by="sup-1"), "sup-1", "supervisor", POLICY)


def test_agents_cannot_approve_and_settled_decisions_cannot_be_signed() -> None:
    with pytest.raises(SignOffRefused, match="Agents"):
        approve(waiting("300.00"), "agent-1", "agent", POLICY)
    done = Waiting("granted", "auto", (), Money(amount=Decimal("1"), currency="EUR"))
    with pytest.raises(SignOffRefused) as refused:
        reject(done, "sup-1", "supervisor")
    assert refused.value.conflict
