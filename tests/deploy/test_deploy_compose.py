"""The Compose stack: valid against the Compose specification, and wired the way the docs say."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from complaints_devstack import kafka as tested_kafka

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
SERVICES = ("intake", "compensation", "followup", "notifications")
KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")
BOOTSTRAP = ",".join(f"{node}:9092" for node in KAFKA_NODES)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def check_compose_schema(tool: Callable[[str], str], path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_matches_the_compose_spec(tool: Callable[[str], str]) -> None:
    result = check_compose_schema(tool, COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_mistakes(tool: Callable[[str], str], tmp_path: Path) -> None:
    broken = COMPOSE.read_text(encoding="utf-8").replace(
        "condition: service_completed_successfully", "condition: service_done", 1
    )
    (tmp_path / "compose.yaml").write_text(broken, encoding="utf-8")
    assert check_compose_schema(tool, tmp_path / "compose.yaml").returncode != 0


def test_infrastructure(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for node in KAFKA_NODES:
        kafka = services[node]
        # The version and broker settings the tests ran against (complaints_devstack.kafka).
        assert kafka["image"] == f"apache/kafka:{tested_kafka.kafka_version()}", node
        env = kafka["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller", node  # KRaft, combined nodes
        for key, value in tested_kafka.PRODUCTION_CONFIG.items():
            assert env["KAFKA_" + key.upper().replace(".", "_")] == value, (node, key)
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
    postgres_major = int(services["postgres"]["image"].split(":")[1].split("-")[0].split(".")[0])
    assert postgres_major >= 16
    assert "jaeger" in services["jaeger"]["image"]
    assert services["otel-collector"]["image"].startswith("otel/opentelemetry-collector")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    topics = services["kafka-topics"]
    assert topics["image"] == services["kafka-1"]["image"]
    assert topics["environment"]["REPLICATION"] == str(tested_kafka.REPLICATION_FACTOR)
    assert topics["environment"]["MIN_INSYNC"] == str(tested_kafka.MIN_INSYNC_REPLICAS)
    for node in KAFKA_NODES:
        assert topics["depends_on"][node]["condition"] == "service_healthy"
    assert any("create-topics.sh" in v for v in topics["volumes"])
    for name in (*KAFKA_NODES, "postgres", "prometheus"):
        assert "healthcheck" in services[name], name


def test_every_service_has_migrate_api_and_worker(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for svc in SERVICES:
        migrate = services[f"{svc}-migrate"]
        assert migrate["command"] == ["migrate"]
        assert migrate["restart"] == "no"
        assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
        for process in ("api", "worker"):
            app = services[f"{svc}-{process}"]
            assert app["command"] == [process]
            assert app["depends_on"][f"{svc}-migrate"]["condition"] == ("service_completed_successfully")
            assert app["depends_on"]["kafka-topics"]["condition"] == ("service_completed_successfully")
            assert "/readyz" in app["healthcheck"]["test"]
            assert app["read_only"] is True
            assert app["cap_drop"] == ["ALL"]
        for name in (f"{svc}-migrate", f"{svc}-api", f"{svc}-worker"):
            c = services[name]
            assert c["build"]["dockerfile"] == "deploy/docker/Dockerfile", name
            assert c["build"]["args"]["SERVICE"] == svc, name
            env = c["environment"]
            prefix = svc.upper() + "_"
            assert env[f"{prefix}DATABASE_URL"].startswith("postgresql+asyncpg://"), name
            assert "@postgres:5432/" in env[f"{prefix}DATABASE_URL"], name
            assert env[f"{prefix}KAFKA_BOOTSTRAP_SERVERS"] == BOOTSTRAP, name
            assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318", name
            assert env["OTEL_SERVICE_NAME"] == svc, name


def test_postgres_roles_match_the_database_urls(compose: dict[str, Any]) -> None:
    init = (COMPOSE_DIR / "postgres-init.sql").read_text(encoding="utf-8")
    for svc in SERVICES:
        url = compose["services"][f"{svc}-api"]["environment"][f"{svc.upper()}_DATABASE_URL"]
        user, password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)
        assert user == svc
        assert f"CREATE ROLE {svc} LOGIN PASSWORD '{password}';" in init
        migrate = compose["services"][f"{svc}-migrate"]["environment"]
        migrator_url = migrate[f"{svc.upper()}_MIGRATION_DATABASE_URL"]
        migrator, password = migrator_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)
        assert migrator == f"{svc}_migrator"
        assert f"CREATE ROLE {migrator} LOGIN PASSWORD '{password}';" in init
        assert f"CREATE SCHEMA {svc} AUTHORIZATION {migrator};" in init
        # Only the migrate one-shot holds the migrator's credentials.
        for process in ("api", "worker"):
            assert (
                f"{svc.upper()}_MIGRATION_DATABASE_URL"
                not in compose["services"][f"{svc}-{process}"]["environment"]
            )


def test_prometheus_scrapes_every_api_and_worker(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for svc in SERVICES:
        for process in ("api", "worker"):
            assert f"{svc}-{process}:8080" in targets
            assert f"{svc}-{process}" in compose["services"]
    complaints = next(j for j in config["scrape_configs"] if j["job_name"] == "complaints")
    assert complaints["metrics_path"] == "/metrics"


def test_collector_sends_traces_to_jaeger(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((COMPOSE_DIR / "otel-collector.yaml").read_text(encoding="utf-8"))
    pipeline = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        for name in pipeline[kind]:
            assert name in config[kind], f"{kind}: {name} is not defined"
    exporter = config["exporters"]["otlp/jaeger"]
    assert exporter["endpoint"] == "jaeger:4317"
    assert "otlp/jaeger" in pipeline["exporters"]
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    jaeger_args = " ".join(compose["services"]["jaeger"]["command"])
    assert "grpc.endpoint=0.0.0.0:4317" in jaeger_args
