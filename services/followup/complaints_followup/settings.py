"""Follow-up's settings: environment variables prefixed FOLLOWUP_."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from complaints_common.settings import ServiceSettings

DAY_S = 86400.0


class FollowupSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLLOWUP_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "followup"
    http_port: int = 8083
    # The service-recovery rule: call back after a few days, never later than a week.
    satisfaction_delay_s: float = Field(default=3 * DAY_S, gt=0, le=7 * DAY_S)
    timer_poll_interval_s: float = Field(default=0.5, gt=0)
    timer_batch_size: int = Field(default=200, ge=1, le=10000)
