"""Compensation's settings: environment variables prefixed COMPENSATION_."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from complaints_common.settings import ServiceSettings


class CompensationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COMPENSATION_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "compensation"
    http_port: int = 8082
    voucher_validity_days: int = 90
