"""The compensation policy: the active version, every version ever loaded, and replacing it."""

from __future__ import annotations

from complaints_common.api import Principal
from complaints_common.problems import Conflict
from complaints_compensation.dependencies import CompensationDependencies
from complaints_compensation.domain.rules import Policy
from complaints_compensation.store import policies as policy_store
from complaints_compensation.store.policies import PolicyVersionRecord


async def active_policy(deps: CompensationDependencies) -> Policy:
    async with deps.runtime.db.transaction() as session:
        return await deps.book.current(session)


async def policy_versions(deps: CompensationDependencies) -> list[PolicyVersionRecord]:
    """Newest first."""
    async with deps.runtime.db.transaction() as session:
        return await policy_store.versions(session)


async def replace_policy(deps: CompensationDependencies, caller: Principal, policy: Policy) -> Policy:
    """A new version, validated whole by its model, stored and activated; a version that exists
    with other content is refused (versions are immutable)."""
    async with deps.runtime.db.transaction() as session:
        if not await deps.book.replace(session, policy, caller.actor_id):
            raise Conflict(f"Policy version {policy.version} exists with other content.")
    return policy
