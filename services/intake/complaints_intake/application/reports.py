"""Regulatory reports: a regime's complaints return over a period, from the audited history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from complaints_common.problems import Unprocessable
from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.domain.deadlines import shipped_rules
from complaints_intake.domain.returns import ComplaintsReturn, complaints_return
from complaints_intake.store.returns import return_inputs


@dataclass(frozen=True, slots=True)
class RegimeReturn:
    profiles: list[str]  # the deadline profiles whose complaints the regime counts
    figures: ComplaintsReturn


async def complaints_return_for(
    deps: IntakeDependencies, client_id: str, regime: str, start: datetime, end: datetime
) -> RegimeReturn:
    """The client's complaints return for `regime` over [start, end): the same period gives the
    same figures."""
    profiles = [n for n, p in shipped_rules().profiles.items() if p.regime == regime]
    if not profiles:
        raise Unprocessable(f"Unknown regime '{regime}'.")
    if end <= start:
        raise Unprocessable("The period must end after it starts.")
    async with deps.runtime.db.transaction() as session:
        records, goodwill = await return_inputs(session, client_id, profiles, start, end)
    return RegimeReturn(profiles, complaints_return(records, goodwill, start, end))
