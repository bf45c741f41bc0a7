"""The generated manifests (deploy/gen_manifests.py) are committed and up to date."""

from __future__ import annotations

from types import ModuleType

import pytest
import yaml

from complaints_common.events.topics import TOPICS, all_topics_with_dead_letters
from complaints_devstack import kafka as tested_kafka


def test_committed_output_matches_the_generator(generator: ModuleType) -> None:
    stale = generator.differences(generator.generate())
    assert not stale, (
        "generated deployment files are out of date; run `python deploy/gen_manifests.py`:\n"
        + "\n".join(stale)
    )


def test_check_mode_reports_up_to_date(generator: ModuleType) -> None:
    assert generator.main(["--check"]) == 0


def test_every_topic_and_dead_letter_topic_has_a_kafka_topic(generator: ModuleType) -> None:
    files = generator.generate()
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


def test_compose_script_creates_every_topic(generator: ModuleType) -> None:
    script = generator.generate()[generator.COMPOSE / "create-topics.sh"]
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

    A service's subscriptions are built from its runtime; a stand-in runtime with the service's real
    settings is enough to list them (nothing connects anywhere).
    """
    import importlib
    from unittest.mock import MagicMock

    definition = importlib.import_module(f"complaints_{service}.main").SERVICE
    runtime = MagicMock()
    runtime.settings = definition.settings_factory()
    subscriptions = definition.all_subscriptions(runtime)
    subscribed = {s.contract.topic.name for s in subscriptions}
    (spec,) = [s for s in generator.SERVICES if s.name == service]
    declared = {t.name for t in spec.consumes}
    assert declared == subscribed, (
        f"{service} subscribes to {sorted(subscribed)} but deploy/gen_manifests.py SERVICES says "
        f"{sorted(declared)}: update SERVICES and run `python deploy/gen_manifests.py`"
    )


def test_the_strimzi_cluster_runs_what_the_tests_ran(generator: ModuleType) -> None:
    """Same Apache Kafka version and broker settings as the tests' embedded cluster; three nodes,
    each broker and controller."""
    text = generator.generate()[generator.K8S_KAFKA / "kafka-cluster.yaml"]
    resources = {doc["kind"]: doc for doc in yaml.safe_load_all(text) if doc}
    kafka = resources["Kafka"]["spec"]["kafka"]
    assert kafka["version"] == tested_kafka.kafka_version()
    assert kafka["config"] == tested_kafka.PRODUCTION_CONFIG
    pool = resources["KafkaNodePool"]
    assert pool["spec"]["replicas"] == 3
    assert set(pool["spec"]["roles"]) == {"broker", "controller"}
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == resources["Kafka"]["metadata"]["name"]
