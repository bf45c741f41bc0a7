"""Each client's choice of deadline profiles and calendars: tenant-wide, and per category."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from complaints_intake.dependencies import IntakeDependencies
from complaints_intake.domain.deadlines import Selection
from complaints_intake.store.regulated import TENANT_WIDE, replace_settings, settings_of


@dataclass(frozen=True, slots=True)
class ClientSelection:
    tenant: Selection
    categories: dict[str, Selection]


async def selection_of(deps: IntakeDependencies, client_id: str) -> ClientSelection:
    async with deps.runtime.db.transaction() as session:
        stored = await settings_of(session, client_id)
    tenant = stored.pop(TENANT_WIDE, Selection())
    return ClientSelection(tenant, stored)


async def choose_deadlines(
    deps: IntakeDependencies, client_id: str, actor_id: str, choice: ClientSelection
) -> ClientSelection:
    """Replace the client's selection (for complaints filed from now on), recording who chose it
    (the person, or the API key); the selection stored."""
    settings = {TENANT_WIDE: choice.tenant, **choice.categories}
    async with deps.runtime.db.transaction() as session:
        await replace_settings(session, client_id, settings, actor_id, datetime.now(UTC))
    return await selection_of(deps, client_id)
