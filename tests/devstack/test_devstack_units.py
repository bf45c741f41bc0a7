"""Unit tests of the launcher's pure parts: key hashing, environments, configuration."""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import time
from pathlib import Path

import pytest

from complaints_common.api import hash_key as hash_api_key
from complaints_common.settings import ApiKey
from complaints_devstack.harness import ServiceSpec
from complaints_devstack.launcher import (
    DEV_API_KEY,
    LaunchConfig,
    LaunchError,
    default_services,
    dev_api_keys_json,
    service_env,
)
from complaints_devstack.ports import free_port, port_in_use
from complaints_devstack.testing import (
    brokers_under_test,
    docker_available,
    require_asyncpg_url,
    with_database,
)


def test_hash_api_key_is_hex_sha256() -> None:
    assert hash_api_key("secret") == hashlib.sha256(b"secret").hexdigest()


def test_dev_api_keys_parse_as_the_services_settings_do() -> None:
    keys = [ApiKey.model_validate(k) for k in json.loads(dev_api_keys_json())]
    assert len(keys) == 1
    assert keys[0].client == "crm-dev"
    assert keys[0].sha256 == hashlib.sha256(DEV_API_KEY.encode()).hexdigest()
    assert set(keys[0].scopes) == {"file", "read", "manage", "admin"}


def test_service_env_sets_the_prefixed_settings_and_passes_the_rest() -> None:
    spec = ServiceSpec("compensation", 8082, serve=("x",))
    env = service_env(
        spec,
        base_env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318", "COMPENSATION_HTTP_PORT": "1"},
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/complaints",
        kafka_bootstrap="127.0.0.1:2",
        api_keys_json="[]",
    )
    assert env["COMPENSATION_DATABASE_URL"] == "postgresql+asyncpg://postgres@127.0.0.1:1/complaints"
    assert env["COMPENSATION_KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:2"
    assert env["COMPENSATION_HTTP_PORT"] == "8082"  # the launcher's port wins
    assert env["COMPENSATION_API_KEYS"] == "[]"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel:4318"


def test_default_services_order_ports_and_executables() -> None:
    services = default_services({"COMPLAINTS_FOLLOWUP_PORT": "9999"})
    assert [(s.name, s.port) for s in services] == [
        ("intake", 8081),
        ("compensation", 8082),
        ("followup", 9999),
        ("notifications", 8084),
    ]
    venv_bin = Path(sys.executable).parent
    assert services[0].serve == (str(venv_bin / "complaints-intake"), "serve")
    assert services[0].migrate == (str(venv_bin / "complaints-intake"), "migrate")
    assert services[3].env_prefix == "NOTIFICATIONS_"


def test_replicas_share_the_service_name_with_ports_of_their_own() -> None:
    services = default_services({"COMPLAINTS_REPLICAS": "2"})
    assert [(s.instance, s.port, s.migrate is not None) for s in services[:4]] == [
        ("intake", 8081, True),
        ("intake-2", 8091, False),  # migrations run once per service
        ("compensation", 8082, True),
        ("compensation-2", 8092, False),
    ]
    assert {s.env_prefix for s in services[:2]} == {"INTAKE_"}  # one service, one set of settings
    with pytest.raises(LaunchError, match="COMPLAINTS_REPLICAS"):
        default_services({"COMPLAINTS_REPLICAS": "0"})


def test_the_embedded_broker_is_tansu_unless_kafka_is_asked_for() -> None:
    assert LaunchConfig.from_env({}).broker == "tansu"
    assert LaunchConfig.from_env({"COMPLAINTS_BROKER": "Kafka"}).broker == "kafka"
    with pytest.raises(LaunchError, match="COMPLAINTS_BROKER"):
        LaunchConfig.from_env({"COMPLAINTS_BROKER": "redpanda"})


def test_launch_config_from_env() -> None:
    default = LaunchConfig.from_env({})
    assert (default.database_url, default.kafka_bootstrap, default.api_keys_json) == (None, None, None)
    assert (default.pg_port, default.kafka_port) == (55432, 19092)
    assert default.pgdata_dir == Path(".run/pgdata")
    assert default.logs_dir == Path(".run/logs")
    assert [t.name for t in default.topics][:2] == ["complaint.created", "complaint.created.dlq"]

    custom = LaunchConfig.from_env(
        {
            "COMPLAINTS_DATABASE_URL": "postgresql+asyncpg://u:p@db/x",
            "COMPLAINTS_KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
            "COMPLAINTS_EMBEDDED_PG_PORT": "1",
            "COMPLAINTS_EMBEDDED_KAFKA_PORT": "2",
            "COMPLAINTS_API_KEYS": "[]",
        }
    )
    assert custom.database_url == "postgresql+asyncpg://u:p@db/x"
    assert custom.kafka_bootstrap == "kafka:9092"
    assert (custom.pg_port, custom.kafka_port, custom.api_keys_json) == (1, 2, "[]")


def test_free_port_is_bindable_and_port_in_use_sees_listeners() -> None:
    port = free_port()
    assert not port_in_use(port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert port_in_use(port)


def test_docker_probe_answers_quickly() -> None:
    started = time.monotonic()
    assert docker_available() in (True, False)
    assert time.monotonic() - started < 5


def test_url_helpers() -> None:
    url = "postgresql+asyncpg://u:p%40ss@h:5/postgres?ssl=require"
    assert with_database(url, "t_1") == "postgresql+asyncpg://u:p%40ss@h:5/t_1?ssl=require"
    assert require_asyncpg_url(url, "X") == url
    try:
        require_asyncpg_url("postgresql://h/db", "X")
    except ValueError as exc:
        assert "X must be a postgresql+asyncpg://" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def test_broker_choice_for_the_tests(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COMPLAINTS_TEST_NO_DOCKER", "1")
    assert brokers_under_test({"COMPLAINTS_TEST_BROKER": "tansu"}) == (["tansu"], None)
    with pytest.raises(ValueError, match="COMPLAINTS_TEST_BROKER"):
        brokers_under_test({"COMPLAINTS_TEST_BROKER": "redpanda"})
    # No Java on PATH: Tansu only, and one line that says why.
    monkeypatch.setenv("PATH", str(tmp_path))
    brokers, why = brokers_under_test({})
    assert brokers == ["tansu"]
    assert why is not None and "no java on PATH" in why and "\n" not in why
    with pytest.raises(RuntimeError, match="no java on PATH"):
        brokers_under_test({"COMPLAINTS_TEST_BROKER": "kafka"})
