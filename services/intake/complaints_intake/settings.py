"""Intake's settings: environment variables prefixed INTAKE_ (see the README's table)."""

from __future__ import annotations

from datetime import timedelta

from limits import parse
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from complaints_common.settings import ServiceSettings
from complaints_intake.domain.repeats import RepeatPolicy


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "intake"
    http_port: int = 8081
    duplicate_window_hours: float = Field(default=48, gt=0, le=24 * 30)
    repeat_window_days: float = Field(default=30, gt=0, le=365)
    extreme_complaint_threshold: int = Field(default=3, ge=2, le=100)
    extreme_window_days: float = Field(default=90, gt=0, le=365 * 2)

    # Per CRM client, in the `limits` notation ("100/second", "5000 per minute"); overrides per client.
    rate_limit: str = "1000/second"
    rate_limits: dict[str, str] = Field(default_factory=dict)
    # "async+memory://" counts per replica; "async+redis://host:6379" would share the count.
    rate_limit_storage: str = "async+memory://"
    # A retry with the same Idempotency-Key replays the first response within this time.
    idempotency_key_retention_hours: float = Field(default=72, gt=0)
    housekeeping_interval_s: float = Field(default=600, gt=0)

    def repeat_policy(self) -> RepeatPolicy:
        return RepeatPolicy(
            duplicate_window=timedelta(hours=self.duplicate_window_hours),
            repeat_window=timedelta(days=self.repeat_window_days),
            extreme_threshold=self.extreme_complaint_threshold,
            extreme_window=timedelta(days=self.extreme_window_days),
        )

    @field_validator("rate_limit")
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        parse(value)  # raises ValueError on nonsense, so a typo fails at start-up
        return value

    @field_validator("rate_limits")
    @classmethod
    def _valid_limits(cls, value: dict[str, str]) -> dict[str, str]:
        for limit in value.values():
            parse(limit)
        return value
