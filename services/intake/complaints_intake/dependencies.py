"""What intake builds once per process and hands to its routes, handlers and background loops."""

from __future__ import annotations

from dataclasses import dataclass

from complaints_common.runtime import Runtime
from complaints_intake.domain.repeats import RepeatPolicy
from complaints_intake.rate_limit import RateLimit
from complaints_intake.settings import IntakeSettings


@dataclass(frozen=True, slots=True)
class IntakeDependencies:
    runtime: Runtime
    settings: IntakeSettings
    # Repeat and duplicate detection's windows, read from the settings once.
    repeat_policy: RepeatPolicy
    rate_limit: RateLimit

    @classmethod
    def build(cls, runtime: Runtime) -> IntakeDependencies:
        settings = runtime.settings
        if not isinstance(settings, IntakeSettings):  # the one place the settings are narrowed
            raise TypeError(f"intake runs on IntakeSettings, not {type(settings).__name__}")
        return cls(runtime, settings, settings.repeat_policy(), RateLimit(settings))
