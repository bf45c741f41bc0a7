"""The generated manifests (deploy/gen_manifests.py) are committed and up to date."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from complaints_common.events.topics import TOPICS, all_topics_with_dead_letters
from complaints_devstack import kafka as tested_kafka

Files = dict[Path, str]


@pytest.fixture(scope="module")
def generated(generator: ModuleType) -> Files:
    """The generator's output, generated once for the module's checks (it is a pure function of the
    code; the one test that changes its input generates its own)."""
    files: Files = generator.generate()
    return files


def test_committed_output_matches_the_generator(generator: ModuleType, generated: Files) -> None:
    stale = generator.differences(generated)
    assert not stale, (
        "generated deployment files are out of date; run `python deploy/gen_manifests.py`:\n"
        + "\n".join(stale)
    )


def test_check_mode_reports_up_to_date(generator: ModuleType) -> None:
    assert generator.main(["--check"]) == 0


def test_every_topic_and_dead_letter_topic_has_a_kafka_topic(generator: ModuleType, generated: Files) -> None:
    files = generated
    path = generator.K8S_COMPONENTS / "kafka-topics" / "kafka-topics.yaml"
    resources = [doc for doc in yaml.safe_load_all(files[path]) if doc]
    by_name = {r["spec"]["topicName"]: r for r in resources}
    expected = all_topics_with_dead_letters()
    assert set(by_name) == {t.name for t in expected}
    for topic in expected:
        spec = by_name[topic.name]["spec"]
        assert spec["partitions"] == topic.partitions
        assert spec["config"]["retention.ms"] == topic.retention_hours * 3600 * 1000
    assert len(expected) == 2 * len(TOPICS)


def test_compose_script_creates_every_topic(generator: ModuleType, generated: Files) -> None:
    script = generated[generator.COMPOSE / "create-topics.sh"]
    for topic in all_topics_with_dead_letters():
        retention_ms = topic.retention_hours * 3600 * 1000
        assert f"create {topic.name} {topic.partitions} {retention_ms}\n" in script


def test_a_new_topic_changes_the_output(generator: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """The drift check really depends on topics.py: a topic added there makes the files stale."""
    from complaints_common.events import topics

    extra = topics.TopicSpec("complaint.reopened", 3, 24, "test only")
    monkeypatch.setattr(
        generator,
        "all_topics_with_dead_letters",
        lambda: [*topics.all_topics_with_dead_letters(), extra, extra.dead_letter],
    )
    stale = generator.differences(generator.generate())
    assert any("kafka-topics.yaml" in p for p in stale)
    assert any("create-topics.sh" in p for p in stale)


def test_workers_are_capped_by_partitions(generator: ModuleType) -> None:
    known = {t.name for t in TOPICS}
    for svc in generator.SERVICES:
        assert svc.consumes, f"{svc.name} consumes nothing"
        assert {t.name for t in svc.consumes} <= known
        assert svc.max_workers == max(t.partitions for t in svc.consumes)


@pytest.mark.parametrize("service", ["intake", "compensation", "followup", "notifications"])
def test_consumer_table_matches_the_services_subscriptions(generator: ModuleType, service: str) -> None:
    """The KEDA triggers follow what each worker really subscribes to.

    A service's subscriptions are built from its dependencies; built, not started, nothing connects.
    """
    import importlib

    definition = importlib.import_module(f"complaints_{service}.main").SERVICE
    dependencies = definition.dependencies(definition.runtime(definition.settings_factory()))
    subscriptions = definition.all_subscriptions(dependencies)
    subscribed = {s.contract.topic.name for s in subscriptions}
    (spec,) = [s for s in generator.SERVICES if s.name == service]
    declared = {t.name for t in spec.consumes}
    assert declared == subscribed, (
        f"{service} subscribes to {sorted(subscribed)} but deploy/gen_manifests.py SERVICES says "
        f"{sorted(declared)}: update SERVICES and run `python deploy/gen_manifests.py`"
    )


def test_the_strimzi_cluster_runs_what_the_tests_ran(generator: ModuleType, generated: Files) -> None:
    """Same Apache Kafka version and broker settings as the tests' embedded cluster; three nodes,
    each broker and controller."""
    text = generated[generator.K8S_KAFKA / "kafka-cluster.yaml"]
    resources = {doc["kind"]: doc for doc in yaml.safe_load_all(text) if doc}
    kafka = resources["Kafka"]["spec"]["kafka"]
    assert kafka["version"] == tested_kafka.kafka_version()
    assert kafka["config"] == tested_kafka.PRODUCTION_CONFIG
    pool = resources["KafkaNodePool"]
    assert pool["spec"]["replicas"] == 3
    assert set(pool["spec"]["roles"]) == {"broker", "controller"}
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == resources["Kafka"]["metadata"]["name"]


# ------------------------------------------------------------------------------ connections


def _component(generator: ModuleType, generated: Files, service: str, filename: str) -> list[dict[str, Any]]:
    text = generated[generator.K8S_COMPONENTS / service / filename]
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _grants(user: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in user["spec"]["authorization"]["acls"]:
        resource = rule["resource"]
        assert resource["patternType"] == "literal"
        grants.setdefault((resource["type"], resource["name"]), set()).update(rule["operations"])
    return grants


@pytest.mark.parametrize("service", ["intake", "compensation", "followup", "notifications"])
def test_kafka_users_grant_exactly_what_the_service_declares(
    generator: ModuleType, generated: Files, service: str
) -> None:
    """Read what it consumes, write what it publishes and its dead letters, its own group; the
    replayer alone may write back to the consumed topics."""
    import importlib

    definition = importlib.import_module(f"complaints_{service}.main").SERVICE
    consumed = {c.topic.name for c in definition.contracts_consumed()}
    published = {c.topic.name for c in definition.contracts_published()}
    users = {d["metadata"]["name"]: d for d in _component(generator, generated, service, "kafka-users.yaml")}
    grants = _grants(users[service])
    for (kind, name), operations in grants.items():
        if kind == "group":
            assert name == service and operations == {"Read"}
            continue
        expected = {"Describe"}
        if name in consumed:
            expected.add("Read")
        if name in published or (name.removesuffix(".dlq") in consumed and name.endswith(".dlq")):
            expected.add("Write")
        assert operations == expected, name
    topics = {name for kind, name in grants if kind == "topic"}
    assert topics == consumed | published | {t + ".dlq" for t in consumed}
    replayer = _grants(users[f"{service}-dlq-replayer"])
    assert {n for (k, n), ops in replayer.items() if k == "topic" and "Write" in ops} == consumed
    assert {n for (k, n), ops in replayer.items() if k == "topic" and "Read" in ops} == {
        t + ".dlq" for t in consumed
    }
    assert users[service]["metadata"]["labels"]["strimzi.io/cluster"] == generator.KAFKA_CLUSTER


@pytest.mark.parametrize("service", ["intake", "compensation", "followup", "notifications"])
def test_workers_and_their_scaler_log_in_to_kafka_and_verify_tls(
    generator: ModuleType, generated: Files, service: str
) -> None:
    prefix = service.upper() + "_"
    (auth,) = [
        d
        for d in _component(generator, generated, service, "kafka-users.yaml")
        if d["kind"] == "TriggerAuthentication"
    ]
    scaled = next(
        d
        for d in _component(generator, generated, service, "autoscaling.yaml")
        if d["kind"] == "ScaledObject"
    )
    for trigger in scaled["spec"]["triggers"]:
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
        assert trigger["metadata"]["sasl"] == "scram_sha512" and trigger["metadata"]["tls"] == "enable"
        assert trigger["metadata"]["bootstrapServers"].endswith(f":{generator.KAFKA_SCRAM_PORT}")
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"password", "ca"}
    for doc in _component(generator, generated, service, "workloads.yaml"):
        pod = doc["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env[f"{prefix}KAFKA_SECURITY__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == service
        assert env[f"{prefix}KAFKA_SECURITY__CA_FILE"]["value"] == generator.KAFKA_CA_FILE
        mounted = {m["mountPath"] for m in container["volumeMounts"]}
        assert {
            generator.KAFKA_CA_FILE.rsplit("/", 1)[0],
            generator.POSTGRES_CA_FILE.rsplit("/", 1)[0],
        } <= mounted
        migrator_secret = {"secretRef": {"name": f"{service}-migrator"}}
        assert (migrator_secret in container["envFrom"]) == (doc["kind"] == "Job"), doc["metadata"]["name"]


def test_postgres_is_verified_and_kafka_has_no_plaintext_listener(
    generator: ModuleType, generated: Files
) -> None:
    files = generated
    for svc in generator.SERVICES:
        kustomization = yaml.safe_load(files[generator.K8S_COMPONENTS / svc.name / "kustomization.yaml"])
        literals = kustomization["configMapGenerator"][0]["literals"]
        assert f"{svc.prefix}DATABASE_SSLMODE=verify-full" in literals
        assert f"{svc.prefix}DATABASE_SSLROOTCERT={generator.POSTGRES_CA_FILE}" in literals
    cluster = next(
        d
        for d in yaml.safe_load_all(files[generator.K8S_KAFKA / "kafka-cluster.yaml"])
        if d["kind"] == "Kafka"
    )
    listeners = cluster["spec"]["kafka"]["listeners"]
    assert all(listener["tls"] for listener in listeners)
    assert {listener["authentication"]["type"] for listener in listeners} == {"scram-sha-512", "tls"}
    assert cluster["spec"]["kafka"]["authorization"] == {"type": "simple"}


def test_the_documented_connection_budget_is_the_computed_one(generator: ModuleType) -> None:
    docs = (generator.DEPLOY.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    table = generator.connection_budget_table()
    assert table in docs, (
        "docs/operations.md's connection budget differs from the computed one; replace it with the "
        f"output of `python deploy/gen_manifests.py --budget`:\n{table}"
    )
    notifications = generator.connection_budget(
        next(s for s in generator.SERVICES if s.name == "notifications")
    )
    intake = generator.connection_budget(generator.SERVICES[0])
    # The delivery loop's connection: one more per notifications worker than intake's.
    assert notifications["per_worker"] == intake["per_worker"] + 1
    assert intake["per_worker"] == intake["per_api"] + 1  # the relay's
