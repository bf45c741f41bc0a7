"""The front line's options: what the agent may offer the customer, the customer's choice, and
the first option granted when no choice is recorded in time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_common.api import Principal
from complaints_common.problems import Conflict, NotFound, or_not_found
from complaints_common.telemetry import continued_trace
from complaints_compensation.application.deciding import (
    Closing,
    acting_role,
    circumstances,
    locked_complaint,
    settle_callers_offer,
    settle_offer,
)
from complaints_compensation.dependencies import CompensationDependencies
from complaints_compensation.domain.policy import required_role
from complaints_compensation.domain.rules import ROLES
from complaints_compensation.store import decisions as store
from complaints_compensation.store import options as option_store
from complaints_compensation.store.decisions import DecisionRecord
from complaints_compensation.store.options import OptionSetRecord

NO_OPTIONS = "No options for this complaint: it had no agent on the line, or compensation has not seen it."


@dataclass(frozen=True, slots=True)
class OptionsOffered:
    """A complaint's options, and for each whether the caller's own authority may grant it."""

    offered: OptionSetRecord
    within_authority: tuple[bool, ...]


async def options_for(
    deps: CompensationDependencies, caller: Principal, complaint_id: UUID
) -> OptionsOffered:
    async with deps.runtime.db.transaction() as session:
        offered = or_not_found(
            await option_store.option_set(session, caller.client, complaint_id), NO_OPTIONS
        )
        policy = await deps.book.current(session)
        known = await store.known_complaint(session, caller.client, complaint_id)
    assert known is not None  # options are made for a known complaint
    tier, role = known.complaint.customer.tier, acting_role(caller)
    needed = [required_role(policy, option.offer.value, tier) for option in offered.options]
    within = tuple(n is not None and ROLES.index(n) <= ROLES.index(role) for n in needed)
    return OptionsOffered(offered, within)


async def record_choice(
    deps: CompensationDependencies, caller: Principal, complaint_id: UUID, option_id: str, reason: str | None
) -> DecisionRecord:
    """The customer's choice, recorded by the caller with the caller's authority: within it granted
    at once, above it waiting for approval like a proposal."""
    async with deps.runtime.db.transaction() as session:
        known = await locked_complaint(session, caller.client, complaint_id, NO_OPTIONS)
        offered = or_not_found(
            await option_store.option_set(session, caller.client, complaint_id, for_update=True), NO_OPTIONS
        )
        if offered.status != "open":
            raise Conflict(f"The options are {offered.status}.")
        chosen = offered.option(option_id)
        if chosen is None:
            raise NotFound(f"{option_id!r} is not one of this complaint's options.")
        moment = await circumstances(session, deps, known)
        closing = Closing("chosen", caller.actor_id, option_id)
        return await settle_callers_offer(
            session, deps, moment, option_id, chosen.offer, caller, closing, reason
        )


async def lapse_options(deps: CompensationDependencies, batch: int) -> int:
    """Grant the first option of each set whose choose-by time passed, as the automatic decision;
    the number of sets looked at."""
    async with deps.runtime.db.transaction() as session:
        due = await option_store.lapsed(session, datetime.now(UTC), batch)
        for candidate in due:
            await _lapse(session, deps, candidate)
    return len(due)


async def _lapse(
    session: AsyncConnection, deps: CompensationDependencies, candidate: OptionSetRecord
) -> None:
    known = await locked_complaint(session, candidate.client_id, candidate.complaint_id, NO_OPTIONS)
    offered = await option_store.option_set(
        session, known.complaint.client_id, candidate.complaint_id, for_update=True
    )
    if offered is None or offered.status != "open":
        return  # chosen, or lapsed by another replica, meanwhile
    attributes = {"complaints.complaint_id": str(offered.complaint_id)}
    with continued_trace("compensation.options lapse", offered.trace_context, attributes):
        moment = await circumstances(session, deps, known)
        first = offered.options[0]
        closing = Closing("lapsed", "auto", first.option_id)
        await settle_offer(session, deps, moment, first.option_id, first.offer, role="agent", closing=closing)
