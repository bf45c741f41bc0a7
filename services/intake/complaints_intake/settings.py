"""Intake's settings: environment variables prefixed INTAKE_ (see the README's table)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from complaints_common.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "intake"
    http_port: int = 8081
