"""Follow-up's settings: environment variables prefixed FOLLOWUP_."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from complaints_common.settings import ServiceSettings

DAY_S = 86400.0
HOUR_S = 3600.0


class FollowupSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLLOWUP_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "followup"
    http_port: int = 8083
    # The service-recovery rule: call back after a few days, never later than a week.
    satisfaction_delay_s: float = Field(default=3 * DAY_S, gt=0, le=7 * DAY_S)
    # Warn this long before a deadline is breached, but never earlier than the last
    # `deadline_warning_fraction` of the deadline's span (a 60 s acknowledgement is warned at 48 s).
    deadline_warning_lead_s: float = Field(default=DAY_S, ge=0)
    deadline_warning_fraction: float = Field(default=0.2, ge=0, le=1)
    # Call-back attempts before a customer is closed as unreachable, and the wait between them.
    max_call_attempts: int = Field(default=3, ge=1, le=10)
    retry_spacing_s: float = Field(default=DAY_S, gt=0)
    # How long after a happy outcome the review request falls due.
    review_request_delay_s: float = Field(default=HOUR_S, ge=0)
    # At most one satisfaction survey per customer in this period.
    survey_period_s: float = Field(default=30 * DAY_S, ge=0)
    # A satisfaction check that falls due while a compensation decision is pending waits this long.
    pending_decision_recheck_s: float = Field(default=6 * HOUR_S, gt=0)
    # A fired follow-up with no outcome this long after it fell due is overdue on the worklist.
    overdue_after_s: float = Field(default=DAY_S, ge=0)
    # The team a follow-up goes to when nobody assigned one.
    default_team: str = Field(default="customer-care", min_length=1, max_length=100)
    timer_poll_interval_s: float = Field(default=0.5, gt=0)
    timer_batch_size: int = Field(default=200, ge=1, le=10000)
