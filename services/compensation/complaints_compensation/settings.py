"""Compensation's settings: environment variables prefixed COMPENSATION_."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from complaints_common.settings import ServiceSettings


class CompensationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COMPENSATION_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "compensation"
    http_port: int = 8082
    voucher_validity_days: int = Field(default=90, ge=1, le=3650)
    # A YAML policy to load at start-up instead of the shipped default (domain/default_policy.yaml).
    policy_file: Path | None = None
    # How often the voucher-expiry loop looks for vouchers past their expiry.
    voucher_expiry_interval_s: float = Field(default=60.0, gt=0)
    # How often the lapse loop grants the first option of options whose choice was not recorded in time.
    options_lapse_interval_s: float = Field(default=30.0, gt=0)
