"""Notifications' settings: environment variables prefixed NOTIFICATIONS_."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from complaints_common.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "notifications"
    http_port: int = 8084
