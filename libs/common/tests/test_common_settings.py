"""ServiceSettings: subclassed per service with an env prefix, secrets kept out of reprs."""

from __future__ import annotations

import json
import os

import pytest
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from complaints_common.settings import ApiKey, ServiceSettings

DIGEST = "ab" * 32
PASSWORD = "hunter2-very-secret"


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLESVC_")

    service_name: str = "examplesvc"
    example_limit: int = 5


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No stray variable of the developer's shell may leak into these tests."""
    for name in list(os.environ):
        if name.startswith("EXAMPLESVC_"):
            monkeypatch.delenv(name)


def test_defaults_without_environment() -> None:
    settings = ExampleSettings()
    assert settings.service_name == "examplesvc"
    assert settings.topic_prefix == ""
    assert settings.api_keys == []
    assert settings.kafka_idempotent_producer is None  # decided from the broker
    assert settings.example_limit == 5


def test_the_subclass_reads_its_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLESVC_TOPIC_PREFIX", "dev.")
    monkeypatch.setenv("EXAMPLESVC_HTTP_PORT", "8181")
    monkeypatch.setenv("EXAMPLESVC_EXAMPLE_LIMIT", "9")
    monkeypatch.setenv("EXAMPLESVC_KAFKA_IDEMPOTENT_PRODUCER", "true")
    monkeypatch.setenv("EXAMPLESVC_OUTBOX_POLL_INTERVAL_S", "0.25")
    settings = ExampleSettings()
    assert settings.topic_prefix == "dev."
    assert settings.http_port == 8181
    assert settings.example_limit == 9
    assert settings.kafka_idempotent_producer is True
    assert settings.outbox_poll_interval_s == 0.25


def test_unprefixed_variables_are_not_read_by_the_subclass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPIC_PREFIX", "wrong.")
    monkeypatch.setenv("OTHERSVC_TOPIC_PREFIX", "other.")
    assert ExampleSettings().topic_prefix == ""


def test_the_subclass_keeps_the_base_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLESVC_SOMETHING_UNKNOWN", "ignored")  # extra="ignore"
    assert ExampleSettings.model_config.get("env_nested_delimiter") == "__"
    assert ExampleSettings.model_config.get("extra") == "ignore"
    assert not hasattr(ExampleSettings(), "something_unknown")


def test_api_keys_parse_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [
        {"client": "crm-a", "sha256": DIGEST, "scopes": ["file"]},
        {"client": "crm-b", "sha256": "cd" * 32},
    ]
    monkeypatch.setenv("EXAMPLESVC_API_KEYS", json.dumps(keys))
    settings = ExampleSettings()
    assert settings.api_keys == [
        ApiKey(client="crm-a", sha256=DIGEST, scopes=["file"]),
        ApiKey(client="crm-b", sha256="cd" * 32, scopes=["file", "read"]),
    ]


@pytest.mark.parametrize(
    "keys",
    [
        '[{"client": "crm-a", "sha256": "not-a-digest"}]',
        '[{"client": "", "sha256": "' + DIGEST + '"}]',
        '[{"client": "crm-a", "sha256": "' + DIGEST.upper() + '"}]',
    ],
)
def test_malformed_api_keys_are_refused(monkeypatch: pytest.MonkeyPatch, keys: str) -> None:
    monkeypatch.setenv("EXAMPLESVC_API_KEYS", keys)
    with pytest.raises(ValidationError):
        ExampleSettings()


def test_topic_applies_the_prefix() -> None:
    assert ExampleSettings(topic_prefix="t1234.").topic("complaint.created") == "t1234.complaint.created"
    assert ExampleSettings().topic("complaint.created") == "complaint.created"


def test_the_database_url_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql+asyncpg://svc:{PASSWORD}@db.internal:5432/complaints"
    monkeypatch.setenv("EXAMPLESVC_DATABASE_URL", url)
    settings = ExampleSettings()
    assert isinstance(settings.database_url, SecretStr)
    assert settings.database_dsn == url
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)
    assert PASSWORD not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EXAMPLESVC_HTTP_PORT", "0"),
        ("EXAMPLESVC_OUTBOX_POLL_INTERVAL_S", "0"),
        ("EXAMPLESVC_CONSUMER_MAX_ATTEMPTS", "0"),
        ("EXAMPLESVC_KAFKA_REQUEST_TIMEOUT_MS", "10"),
    ],
)
def test_out_of_range_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        ExampleSettings()


def test_kafka_security_is_read_from_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLESVC_KAFKA_SECURITY__PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("EXAMPLESVC_KAFKA_SECURITY__SASL_USERNAME", "examplesvc")
    monkeypatch.setenv("EXAMPLESVC_KAFKA_SECURITY__SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("EXAMPLESVC_KAFKA_SECURITY__CA_FILE", "/etc/complaints/kafka-ca/ca.crt")
    security = ExampleSettings().kafka_security
    assert security.protocol == "SASL_SSL"
    assert security.sasl_mechanism == "SCRAM-SHA-512"
    assert security.sasl_password is not None
    assert security.sasl_password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(ExampleSettings())


@pytest.mark.parametrize(
    ("security", "message"),
    [
        ({"protocol": "SASL_SSL", "sasl_username": "u"}, "needs sasl_username and sasl_password"),
        ({"protocol": "SSL", "cert_file": "/c.crt"}, "cert_file and key_file go together"),
        ({"ca_file": "/ca.crt"}, "protocol is PLAINTEXT"),
        ({"protocol": "SASL_PLAINTEXT"}, "protocol"),
    ],
)
def test_incomplete_kafka_security_is_refused(security: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ExampleSettings(kafka_security=security)


def test_database_pool_overflow_and_timeouts_default_sanely() -> None:
    settings = ExampleSettings()
    assert settings.database_max_overflow == 0  # the pool size is the most a process opens
    assert settings.database_statement_timeout_ms == 30000
    assert settings.database_lock_timeout_ms == 10000
    assert settings.database_idle_in_transaction_timeout_ms == 60000
    with pytest.raises(ValidationError):
        ExampleSettings(database_sslmode="verify_full")
