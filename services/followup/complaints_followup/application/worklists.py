"""Worklists: fired satisfaction checks and manual follow-ups waiting for an agent's call-back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from complaints_followup.dependencies import FollowupDependencies
from complaints_followup.store.outcomes import worklist as waiting
from complaints_followup.store.timers import Followup


@dataclass(frozen=True, slots=True)
class WorklistPage:
    items: list[Followup]
    more: bool  # another page follows the last item


def overdue_before(deps: FollowupDependencies) -> datetime:
    """A fired follow-up due before this and still without an outcome is overdue."""
    return deps.clock() - timedelta(seconds=deps.settings.overdue_after_s)


async def worklist(
    deps: FollowupDependencies,
    client_id: str,
    *,
    team: str | None,
    agent_id: str | None,
    overdue_only: bool,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> WorklistPage:
    """The oldest first, from `after` (the last item of the previous page)."""
    async with deps.runtime.db.transaction() as session:
        items = await waiting(
            session,
            client_id,
            team=team,
            agent_id=agent_id,
            overdue_before=overdue_before(deps) if overdue_only else None,
            after=after,
            limit=limit + 1,
        )
    return WorklistPage(items[:limit], len(items) > limit)
