"""What a compensation process builds once: its typed settings, the policy book and the recorder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from complaints_common.runtime import Runtime
from complaints_compensation.application.recording import Recorder
from complaints_compensation.domain.rules import DEFAULT_POLICY_FILE, load_policy_file
from complaints_compensation.settings import CompensationSettings
from complaints_compensation.store.policies import PolicyBook


@dataclass(frozen=True, slots=True)
class CompensationDependencies:
    runtime: Runtime
    settings: CompensationSettings
    book: PolicyBook
    recorder: Recorder

    @classmethod
    def build(cls, runtime: Runtime) -> CompensationDependencies:
        """The policy file is read and validated here, when the process is made, so a broken file
        stops the service instead of a decision."""
        settings = runtime.settings
        if not isinstance(settings, CompensationSettings):
            raise TypeError(f"compensation runs with CompensationSettings, not {type(settings).__name__}")
        book = PolicyBook(load_policy_file(settings.policy_file or DEFAULT_POLICY_FILE))
        recorder = Recorder(runtime.outbox, timedelta(days=settings.voucher_validity_days))
        return cls(runtime=runtime, settings=settings, book=book, recorder=recorder)


async def start(deps: CompensationDependencies) -> None:
    """The start-up step: the shipped (or configured) policy is stored, and activated the first
    time its version is seen, before the process decides or serves anything."""
    async with deps.runtime.db.transaction() as session:
        await deps.book.install(session)
