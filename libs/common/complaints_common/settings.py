"""Settings every service shares; each service subclasses this once with its own env prefix.

Secrets (the database URL's password, API key hashes) come only from the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The development issuer of `complaints-dev` (libs/devstack): refused when `production` is on.
DEV_ISSUER = "urn:complaints:dev-issuer"


class ApiKey(BaseModel):
    """One CRM client's key, stored as the SHA-256 of the secret so the secret itself is never kept."""

    client: str = Field(min_length=1, max_length=100)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: list[str] = Field(default_factory=lambda: ["file", "read"])
    id: str | None = Field(default=None, description="The issued key's id (None for start-up keys).")


class AuthSettings(BaseModel):
    """The OpenID Connect issuer whose bearer tokens the API accepts (`<SVC>_AUTH__ISSUER`, ...)."""

    issuer: str | None = None
    audience: str = "complaints-api"
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jwks_refresh_s: float = Field(default=300, ge=10)
    algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256")
    leeway_s: float = Field(default=30, ge=0, le=300)
    # RFC 9068 names the OAuth client `client_id`; Okta calls it `cid`, Entra ID and Auth0 `azp`.
    tenant_claim: str = "client_id"
    # A dotted path: `realm_access.roles` for Keycloak realm roles, `roles` for Entra app roles.
    role_claim: str = "role"

    @model_validator(mode="after")
    def _no_symmetric_algorithms(self) -> AuthSettings:
        if any(alg[:2] not in {"RS", "PS", "ES", "Ed"} for alg in self.algorithms):
            raise ValueError("only asymmetric signing algorithms (RS*, PS*, ES*, EdDSA) are accepted")
        return self


class KafkaSecurity(BaseModel):
    """How every Kafka client of a service authenticates and encrypts (`<SVC>_KAFKA_SECURITY__...`).

    `protocol` is Kafka's `security.protocol`: SASL_SSL with SCRAM-SHA-512 (a Strimzi `KafkaUser`
    with `authentication: scram-sha-512`), or SSL with a client certificate (mTLS, a `KafkaUser` with
    `authentication: tls`). TLS always verifies the broker's certificate and host name against
    `ca_file` (the cluster CA), or against the system's CAs when none is given.
    """

    protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ca_file: Path | None = None
    # mTLS: the client certificate (chain) and its key, PEM (Strimzi's user.crt and user.key).
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> KafkaSecurity:
        if self.protocol == "SASL_SSL" and not (self.sasl_username and self.sasl_password):
            raise ValueError("kafka_security: SASL_SSL needs sasl_username and sasl_password")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("kafka_security: cert_file and key_file go together")
        if self.protocol == "PLAINTEXT" and (self.ca_file or self.cert_file or self.sasl_username):
            raise ValueError("kafka_security: TLS or SASL settings given but protocol is PLAINTEXT")
        return self


class ServiceSettings(BaseSettings):
    """Connection, HTTP and messaging settings; a subclass sets `env_prefix` (e.g. ``INTAKE_``)."""

    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    service_name: str = "service"
    database_url: SecretStr = SecretStr("postgresql+asyncpg://postgres@127.0.0.1:55432/complaints")
    # The migrator role's URL, for `migrate` only (it owns the schema and creates objects); the
    # runtime role of `database_url` only reads and writes rows. Unset: `migrate` uses database_url.
    migration_database_url: SecretStr | None = None
    # The SQLAlchemy pool of each process: at most pool size + overflow connections (besides the raw
    # connections of the relay and delivery loops; docs/operations.md, "Connection budget").
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=0, ge=0, le=200)
    # TLS to PostgreSQL, as libpq names it; the URL's own `?sslmode=&sslrootcert=` win over these.
    # verify-full checks the server's certificate against `database_sslrootcert` and its host name.
    database_sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = (
        None
    )
    database_sslrootcert: Path | None = None
    database_sslcert: Path | None = None
    database_sslkey: Path | None = None
    # Per connection of the services (not of `migrate`); 0 switches one off. A statement or lock
    # wait cut short is retried as a transient error, never dead-lettered.
    database_statement_timeout_ms: int = Field(default=30000, ge=0)
    database_lock_timeout_ms: int = Field(default=10000, ge=0)
    database_idle_in_transaction_timeout_ms: int = Field(default=60000, ge=0)
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    kafka_security: KafkaSecurity = Field(default_factory=KafkaSecurity)
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
    # A poll returns a partition's fetched records first to last before the next partition's, so a
    # backlog on one topic (the status changes a broker outage held back) makes the others wait for
    # its whole fetch: smaller fetches per partition (Kafka's default is 1 MiB, thousands of our
    # events) take the partitions in turn, and a new complaint's acknowledgement is not queued
    # behind them.
    kafka_max_partition_fetch_bytes: int = Field(default=131072, ge=16384)
    topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    # How long an idle keep-alive connection stays open. Longer than a client's pool expiry (httpx:
    # 5 s) and a load balancer's idle timeout (60 s is common), so a request sent on a pooled
    # connection never meets the server closing it (uvicorn's own default, 5 s, raced with both).
    http_keep_alive_s: int = Field(default=75, ge=1, le=3600)
    # Start-up keys, for development and tests: they cannot be revoked without a restart, so a
    # production service refuses them; real keys are issued through intake's admin API.
    api_keys: list[ApiKey] = Field(default_factory=list)
    # How often an API replica re-reads the issued keys: a revocation takes effect within this.
    api_key_refresh_s: float = Field(default=2.0, ge=0)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    # On in production: start-up API keys and the development issuer are refused at start.
    production: bool = False
    # A request body above this is refused with a 413 problem before it is read any further.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(default=500, ge=1, le=10000)
    outbox_retention_hours: int = Field(default=24 * 7, ge=1)
    consumer_max_attempts: int = Field(default=3, ge=1, le=20)
    consumer_batch_size: int = Field(default=200, ge=1, le=5000)
    # Offsets are committed at most this often (0: after every poll), always after the database
    # commit of what they cover, and at once when a poll comes back empty, on a rebalance and on
    # stop: a commit per poll is an OffsetCommit round trip per message at a steady load, and what a
    # crash leaves uncommitted is redelivered and absorbed by the inbox.
    consumer_commit_interval_ms: int = Field(default=500, ge=0, le=60_000)
    log_level: str = "INFO"
    # Problem `type` URIs are this followed by the problem's name; point it where docs/problems is
    # published (each name has its page there, docs/problems/<name>.md).
    problem_base_uri: str = Field(
        default="https://complaints.example.com/problems/", pattern=r"^[a-z][a-z0-9+.-]*:.*/$"
    )
    # A JSON-lines file that every finished span is appended to, for the journey view on a laptop.
    spans_file: Path | None = None
    # A span per database statement (asyncpg's instrumentation) on top of the span per request and
    # per message: off by default, it costs about a tenth of a busy consumer's CPU.
    trace_statements: bool = False

    @model_validator(mode="after")
    def _production_refuses_development_credentials(self) -> ServiceSettings:
        if self.production:
            if self.api_keys:
                raise ValueError("production: start-up API keys are refused; issue keys through intake")
            if self.auth.issuer == DEV_ISSUER:
                raise ValueError("production: the development token issuer is refused")
            if self.kafka_security.protocol == "PLAINTEXT":
                raise ValueError("production: Kafka over PLAINTEXT is refused; set kafka_security")
        return self

    def topic(self, name: str) -> str:
        """The physical topic name: a prefix lets tests and shared clusters keep topics apart."""
        return self.topic_prefix + name

    @property
    def database_dsn(self) -> str:
        return self.database_url.get_secret_value()
