"""What every route, handler and loop of follow-up uses, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from complaints_common.runtime import Runtime
from complaints_followup.application.scheduling import Scheduler
from complaints_followup.domain.schedule import Clock, system_clock
from complaints_followup.settings import FollowupSettings


@dataclass(frozen=True, slots=True)
class FollowupDependencies:
    runtime: Runtime
    settings: FollowupSettings
    # Every "now" of the service: tests pass their own (`build_service(clock)`) so days pass in seconds.
    clock: Clock
    scheduler: Scheduler

    @classmethod
    def build(cls, runtime: Runtime, clock: Clock = system_clock) -> FollowupDependencies:
        settings = runtime.settings
        if not isinstance(settings, FollowupSettings):
            raise TypeError(f"follow-up runs on FollowupSettings, not {type(settings).__name__}")
        return cls(runtime, settings, clock, Scheduler(settings, runtime.outbox))
