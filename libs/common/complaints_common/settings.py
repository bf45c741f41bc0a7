"""Settings every service shares; each service subclasses this once with its own env prefix.

Secrets (the database URL's password, API key hashes) come only from the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiKey(BaseModel):
    """One CRM client's key, stored as the SHA-256 of the secret so the secret itself is never kept."""

    client: str = Field(min_length=1, max_length=100)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: list[str] = Field(default_factory=lambda: ["file", "read"])


class ServiceSettings(BaseSettings):
    """Connection, HTTP and messaging settings; a subclass sets `env_prefix` (e.g. ``INTAKE_``)."""

    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    service_name: str = "service"
    database_url: SecretStr = SecretStr("postgresql+asyncpg://postgres@127.0.0.1:55432/complaints")
    database_pool_size: int = Field(default=10, ge=1, le=200)
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    # None: on where the broker is Apache Kafka (read from its ApiVersions, complaints_common.kafka),
    # off on the embedded Tansu broker, which answers InitProducerId with an error.
    kafka_idempotent_producer: bool | None = None
    kafka_request_timeout_ms: int = Field(default=15000, ge=1000)
    kafka_session_timeout_ms: int = Field(default=10000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(default=3000, ge=100)
    # How long the broker may hold a fetch open waiting for data. None: Kafka's default (500 ms) on
    # Apache Kafka, which answers as soon as a record arrives; 25 ms on the embedded Tansu broker,
    # which holds the fetch for the whole wait (at 500 ms that adds ~200 ms to every hop).
    kafka_fetch_max_wait_ms: int | None = Field(default=None, ge=1, le=10000)
    # How often clients re-read the cluster's metadata: how soon they see a topic re-created or
    # repartitioned. At aiokafka's default (5 min) two services' consumers sat idle for minutes after
    # a broker restart in `make chaos` (topics re-created after they had reconnected); the stall did
    # not reproduce in isolation, so this bounds it rather than being the proven fix, which is
    # creating the topics before clients produce (docs/operations.md).
    kafka_metadata_max_age_ms: int = Field(default=10000, ge=1000)
    topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    api_keys: list[ApiKey] = Field(default_factory=list)
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(default=500, ge=1, le=10000)
    outbox_retention_hours: int = Field(default=24 * 7, ge=1)
    consumer_max_attempts: int = Field(default=3, ge=1, le=20)
    consumer_batch_size: int = Field(default=200, ge=1, le=5000)
    log_level: str = "INFO"
    # A JSON-lines file that every finished span is appended to, for the journey view on a laptop.
    spans_file: Path | None = None

    def topic(self, name: str) -> str:
        """The physical topic name: a prefix lets tests and shared clusters keep topics apart."""
        return self.topic_prefix + name

    @property
    def database_dsn(self) -> str:
        return self.database_url.get_secret_value()
