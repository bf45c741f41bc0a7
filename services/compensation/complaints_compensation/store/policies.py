"""Policy versions: every version is kept; exactly one is active."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from complaints_compensation.domain.rules import Policy, parse_policy
from complaints_compensation.store.tables import policies


@dataclass(frozen=True, slots=True)
class PolicyVersionRecord:
    version: str
    active: bool
    loaded_by: str
    loaded_at: datetime


def _document(policy: Policy) -> dict[str, Any]:
    return policy.model_dump(mode="json")


async def store_version(session: AsyncConnection, policy: Policy, loaded_by: str) -> bool:
    """Keep a version; False when it exists already (then nothing changes)."""
    statement = (
        insert(policies)
        .values(version=policy.version, document=_document(policy), loaded_by=loaded_by)
        .on_conflict_do_nothing(index_elements=[policies.c.version])
        .returning(policies.c.version)
    )
    return (await session.execute(statement)).first() is not None


async def activate(session: AsyncConnection, version: str) -> None:
    await session.execute(update(policies).where(policies.c.active).values(active=False))
    await session.execute(update(policies).where(policies.c.version == version).values(active=True))


async def _stored_document(session: AsyncConnection, version: str) -> dict[str, Any] | None:
    row = (await session.execute(select(policies.c.document).where(policies.c.version == version))).first()
    return dict(row.document) if row else None


async def stored_policy(session: AsyncConnection, version: str) -> Policy | None:
    document = await _stored_document(session, version)
    return parse_policy(document) if document is not None else None


async def stored_as(session: AsyncConnection, policy: Policy) -> bool:
    """Whether the policy's version is stored with exactly this content."""
    return await _stored_document(session, policy.version) == _document(policy)


async def active_version(session: AsyncConnection) -> str | None:
    """Only the version: the document is immutable per version, so it is read once per process."""
    return (await session.execute(select(policies.c.version).where(policies.c.active))).scalar_one_or_none()


async def versions(session: AsyncConnection) -> list[PolicyVersionRecord]:
    rows = await session.execute(
        select(policies.c.version, policies.c.active, policies.c.loaded_by, policies.c.loaded_at).order_by(
            policies.c.loaded_at.desc()
        )
    )
    return [PolicyVersionRecord(r.version, r.active, r.loaded_by, r.loaded_at) for r in rows]


class PolicyBook:
    """The active policy: its version is read from the database for every decision (with the
    customer's history, in the same statement), so every replica sees a replacement at once; its
    document is read and parsed once per version and process. The shipped (or configured) file is
    stored, and activated the first time its version is seen, by the start-up step (`install`)."""

    def __init__(self, file_policy: Policy) -> None:
        self.file_policy = file_policy
        self._parsed: dict[str, Policy] = {file_policy.version: file_policy}
        # The policy this process last saw active: what a decision assumes, then checks (its
        # history query reads the active version too), so a decision needs no statement of its own.
        self.last_seen = file_policy

    async def install(self, session: AsyncConnection) -> None:
        if await store_version(session, self.file_policy, "file"):
            await activate(session, self.file_policy.version)

    async def current(self, session: AsyncConnection) -> Policy:
        version = await active_version(session)
        if version is None:  # the file's version was stored earlier, then deactivated by hand
            await activate(session, self.file_policy.version)
            version = self.file_policy.version
        if version not in self._parsed:
            stored = await stored_policy(session, version)
            assert stored is not None  # versions are never deleted
            self._parsed[version] = stored
        self.last_seen = self._parsed[version]
        return self.last_seen

    async def replace(self, session: AsyncConnection, policy: Policy, loaded_by: str) -> bool:
        """Store and activate a version; False when that version exists with other content."""
        stored = await store_version(session, policy, loaded_by)
        if not stored and not await stored_as(session, policy):
            return False
        await activate(session, policy.version)
        self._parsed[policy.version] = policy
        return True
