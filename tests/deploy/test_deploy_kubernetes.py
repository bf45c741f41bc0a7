"""Render every Kustomize overlay and check what a cluster would receive.

- built-in kinds: kubernetes-validate (strict: unknown fields fail) against a pinned Kubernetes
  version (KUBERNETES_VERSION below);
- CRDs (KEDA ScaledObject and TriggerAuthentication, Strimzi KafkaTopic and KafkaUser): JSON
  Schemas written for this project from the CRDs' documented shape (tests/deploy/schemas), since
  no upstream schema is available offline;
- the platform's own rules: probes, security contexts, /tmp, migration Job + waiting initContainer,
  HPA/KEDA/PDB for every workload, partition caps, network policies, secrets, per-overlay settings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

try:
    import kubernetes_validate
except ImportError as error:
    raise ImportError(
        "kubernetes-validate is not installed: run `.tools/bin/uv sync --group deploy` "
        "(the deployment checks' tools live in the `deploy` dependency group)"
    ) from error

from complaints_common.events.topics import TOPICS, all_topics_with_dead_letters

# The Kubernetes version the built-in resources are validated against (schemas ship in the wheel).
KUBERNETES_VERSION = "1.33.0"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject-v1alpha1.schema.json",
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): "strimzi-kafkatopic-v1beta2.schema.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring-prometheusrule-v1.schema.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "monitoring-podmonitor-v1.schema.json",
    ("kafka.strimzi.io/v1beta2", "KafkaUser"): "strimzi-kafkauser-v1beta2.schema.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda-triggerauthentication-v1alpha1.schema.json",
}
SERVICES = ("intake", "compensation", "followup", "notifications")
OVERLAYS = ("dev", "prod")
VERSION_LABEL = "app.kubernetes.io/version"

Resources = list[dict[str, Any]]


def by_kind(resources: Resources, kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def pod_specs(resources: Resources) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, pod template metadata, pod spec) of every Deployment and Job."""
    return [
        (
            f"{r['kind']}/{r['metadata']['name']}",
            r["spec"]["template"]["metadata"],
            r["spec"]["template"]["spec"],
        )
        for r in resources
        if r["kind"] in ("Deployment", "Job")
    ]


def crd_validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[(api_version, kind)]).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# ------------------------------------------------------------------------------ schema validation


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_validates(rendered: dict[str, Resources], overlay: str) -> None:
    errors: list[str] = []
    crd_validators = {key: crd_validator(*key) for key in CRD_SCHEMAS}
    for resource in rendered[overlay]:
        key = (resource["apiVersion"], resource["kind"])
        name = f"{resource['kind']}/{resource['metadata']['name']}"
        if key in crd_validators:
            errors += [
                f"{name}: {'.'.join(map(str, e.path))}: {e.message}"
                for e in crd_validators[key].iter_errors(resource)
            ]
            continue
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{name}: {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(f"{name}: no schema: {e.message}")
    assert not errors, "\n".join(errors)


def test_crd_schemas_catch_mistakes() -> None:
    """The hand-written CRD schemas reject what they are meant to reject."""
    scaled = crd_validator("keda.sh/v1alpha1", "ScaledObject")
    good: dict[str, Any] = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {
            "scaleTargetRef": {"name": "x"},
            "triggers": [
                {
                    "type": "kafka",
                    "metadata": {"bootstrapServers": "k:9092", "consumerGroup": "g", "topic": "t"},
                }
            ],
        },
    }
    assert scaled.is_valid(good)
    typo = json.loads(json.dumps(good))
    typo["spec"]["triggers"][0]["metadata"]["lagThresold"] = "5"
    assert not scaled.is_valid(typo)
    not_string = json.loads(json.dumps(good))
    not_string["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 5
    assert not scaled.is_valid(not_string)
    no_target = json.loads(json.dumps(good))
    del no_target["spec"]["scaleTargetRef"]
    assert not scaled.is_valid(no_target)

    topic = crd_validator("kafka.strimzi.io/v1beta2", "KafkaTopic")
    good_topic: dict[str, Any] = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {"name": "a.b", "labels": {"strimzi.io/cluster": "c"}},
        "spec": {"partitions": 3, "replicas": 3, "config": {"retention.ms": 1}},
    }
    assert topic.is_valid(good_topic)
    unlabelled = json.loads(json.dumps(good_topic))
    del unlabelled["metadata"]["labels"]
    assert not topic.is_valid(unlabelled)
    typo_topic = json.loads(json.dumps(good_topic))
    typo_topic["spec"]["partition"] = 3
    assert not topic.is_valid(typo_topic)

    user = crd_validator("kafka.strimzi.io/v1beta2", "KafkaUser")
    good_user: dict[str, Any] = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaUser",
        "metadata": {"name": "svc", "labels": {"strimzi.io/cluster": "c"}},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {
                "type": "simple",
                "acls": [{"resource": {"type": "topic", "name": "t"}, "operations": ["Read"]}],
            },
        },
    }
    assert user.is_valid(good_user)
    bad_operation = json.loads(json.dumps(good_user))
    bad_operation["spec"]["authorization"]["acls"][0]["operations"] = ["Reed"]
    assert not user.is_valid(bad_operation)
    bad_auth = json.loads(json.dumps(good_user))
    bad_auth["spec"]["authentication"]["type"] = "scram-sha-256"  # Strimzi has only SHA-512
    assert not user.is_valid(bad_auth)

    auth = crd_validator("keda.sh/v1alpha1", "TriggerAuthentication")
    good_auth: dict[str, Any] = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": "a"},
        "spec": {"secretTargetRef": [{"parameter": "password", "name": "s", "key": "password"}]},
    }
    assert auth.is_valid(good_auth)
    typo_parameter = json.loads(json.dumps(good_auth))
    typo_parameter["spec"]["secretTargetRef"][0]["parameter"] = "passwd"
    assert not auth.is_valid(typo_parameter)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_versions_are_current(rendered: dict[str, Resources], overlay: str) -> None:
    expected = {
        "Deployment": "apps/v1",
        "Job": "batch/v1",
        "HorizontalPodAutoscaler": "autoscaling/v2",
        "PodDisruptionBudget": "policy/v1",
        "NetworkPolicy": "networking.k8s.io/v1",
        "Ingress": "networking.k8s.io/v1",
        "ScaledObject": "keda.sh/v1alpha1",
        "KafkaTopic": "kafka.strimzi.io/v1beta2",
        "KafkaUser": "kafka.strimzi.io/v1beta2",
        "TriggerAuthentication": "keda.sh/v1alpha1",
    }
    for r in rendered[overlay]:
        if r["kind"] in expected:
            assert r["apiVersion"] == expected[r["kind"]], r["metadata"]["name"]


# ------------------------------------------------------------------------------ workloads


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_api_worker_and_migration(rendered: dict[str, Resources], overlay: str) -> None:
    deployments = by_kind(rendered[overlay], "Deployment")
    jobs = by_kind(rendered[overlay], "Job")
    for svc in SERVICES:
        assert deployments[f"{svc}-api"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["api"]
        assert deployments[f"{svc}-worker"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker"]
        assert jobs[f"{svc}-migrate"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    assert len(deployments) == 2 * len(SERVICES)
    assert len(jobs) == len(SERVICES)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_hardened(rendered: dict[str, Resources], overlay: str) -> None:
    for name, _meta, spec in pod_specs(rendered[overlay]):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] == 10001, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"], name
        for c in spec.get("initContainers", []) + spec["containers"]:
            where = f"{name}/{c['name']}"
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["runAsNonRoot"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in sc["capabilities"], where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            assert {"/tmp"} <= {m["mountPath"] for m in c["volumeMounts"]}, where
            for key in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][key]), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_mean_what_the_runbook_says(rendered: dict[str, Resources], overlay: str) -> None:
    for name, dep in by_kind(rendered[overlay], "Deployment").items():
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, name
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, name
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name
        assert "replicas" not in dep["spec"], f"{name}: the autoscaler owns the replica count"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_use_each_services_prefix(rendered: dict[str, Resources], overlay: str) -> None:
    resources = rendered[overlay]
    configmaps = {r["metadata"]["name"].rsplit("-", 1)[0]: r for r in resources if r["kind"] == "ConfigMap"}
    secrets = {r["metadata"]["name"].rsplit("-", 1)[0]: r for r in resources if r["kind"] == "Secret"}
    for name, _meta, spec in pod_specs(resources):
        svc = name.split("/")[1].split("-")[0]
        prefix = svc.upper() + "_"
        container = spec["containers"][0]
        env_names = {e["name"] for e in container["env"]}
        assert {
            f"{prefix}KAFKA_BOOTSTRAP_SERVERS",
            f"{prefix}KAFKA_IDEMPOTENT_PRODUCER",
            f"{prefix}TOPIC_PREFIX",
            "OTEL_RESOURCE_ATTRIBUTES",
        } <= env_names, name
        refs = [next(iter(e.values()))["name"] for e in container["envFrom"]]
        config = configmaps[f"{svc}-config"]["data"]
        assert config[f"{prefix}HTTP_HOST"] == "0.0.0.0", name
        assert config[f"{prefix}HTTP_PORT"] == "8080", name
        assert config["OTEL_SERVICE_NAME"] == svc, name
        assert any(r.startswith(f"{svc}-secrets") for r in refs), name
        otel = configmaps["complaints-otel"]["data"]
        assert otel["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http"), name
        if overlay == "dev":
            keys = set(secrets[f"{svc}-secrets"]["data"])
            assert {f"{prefix}DATABASE_URL", f"{prefix}API_KEYS"} <= keys


def test_idempotent_producer_per_overlay(rendered: dict[str, Resources]) -> None:
    def platform(overlay: str) -> dict[str, str]:
        return next(
            r["data"]
            for r in rendered[overlay]
            if r["kind"] == "ConfigMap" and r["metadata"]["name"].startswith("complaints-platform-")
        )

    assert platform("prod")["kafka-idempotent-producer"] == "true"
    assert platform("dev")["kafka-idempotent-producer"] == "true"  # Strimzi: Apache Kafka
    assert platform("prod")["environment"] == "prod"
    assert platform("dev")["environment"] == "dev"


def test_prod_is_bigger_than_dev(rendered: dict[str, Resources]) -> None:
    def cpu(q: str) -> float:
        return float(q[:-1]) / 1000 if q.endswith("m") else float(q)

    for kind, field in (("HorizontalPodAutoscaler", "minReplicas"), ("ScaledObject", "minReplicaCount")):
        for name, prod in by_kind(rendered["prod"], kind).items():
            dev = by_kind(rendered["dev"], kind)[name]
            assert prod["spec"][field] > dev["spec"][field], name
    for name, prod in by_kind(rendered["prod"], "Deployment").items():
        dev = by_kind(rendered["dev"], "Deployment")[name]
        p = prod["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
        d = dev["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
        assert cpu(p) > cpu(d), name


# ------------------------------------------------------------------------------ migrations


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_wait_for_their_migration_job(rendered: dict[str, Resources], overlay: str) -> None:
    resources = rendered[overlay]
    jobs = by_kind(resources, "Job")
    roles = by_kind(resources, "Role")
    bindings = by_kind(resources, "RoleBinding")
    for name, dep in by_kind(resources, "Deployment").items():
        svc = name.split("-")[0]
        spec = dep["spec"]["template"]["spec"]
        (init,) = spec["initContainers"]
        assert init["command"] == ["python", "/app/bin/wait_for_job.py"], name
        job_name = init["args"][init["args"].index("--job") + 1]
        assert job_name == f"{svc}-migrate"
        assert "migrate" not in init["args"], f"{name}: the initContainer must wait, not migrate"
        job = jobs[job_name]
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert "ttlSecondsAfterFinished" not in job["spec"], "pods look the Job up when they start"
        # Same release on both sides, and the waiter compares them through the pod's own label.
        version = dep["spec"]["template"]["metadata"]["labels"][VERSION_LABEL]
        assert job["metadata"]["labels"][VERSION_LABEL] == version
        (expected,) = [e for e in init["env"] if e["name"] == "EXPECTED_VERSION"]
        assert expected["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.labels['{VERSION_LABEL}']"
        assert (
            init["image"]
            == spec["containers"][0]["image"]
            == (job["spec"]["template"]["spec"]["containers"][0]["image"])
        )
        # Only the initContainer gets an API token, and RBAC lets it read exactly its Job.
        token_mounts = [m for m in init["volumeMounts"] if m["mountPath"].startswith("/var/run/secrets")]
        assert token_mounts and token_mounts[0]["readOnly"] is True
        assert not any(
            m["mountPath"].startswith("/var/run/secrets") for m in spec["containers"][0]["volumeMounts"]
        )
        role = roles[f"{svc}-migration-reader"]
        assert role["rules"] == [
            {"apiGroups": ["batch"], "resources": ["jobs"], "resourceNames": [job_name], "verbs": ["get"]}
        ]
        binding = bindings[f"{svc}-migration-reader"]
        assert binding["subjects"][0]["name"] == spec["serviceAccountName"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_release_label_matches_image_tags(rendered: dict[str, Resources], overlay: str) -> None:
    for name, meta, spec in pod_specs(rendered[overlay]):
        version = meta["labels"][VERSION_LABEL]
        for c in spec.get("initContainers", []) + spec["containers"]:
            image = c["image"]
            tag = re.sub(r"@sha256:.*$", "", image).rsplit(":", 1)[-1]
            assert tag == version, f"{name}: image {image} but {VERSION_LABEL}={version}"


# ------------------------------------------------------------------------------ scaling


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_api_has_an_hpa(rendered: dict[str, Resources], overlay: str) -> None:
    hpas = by_kind(rendered[overlay], "HorizontalPodAutoscaler")
    for svc in SERVICES:
        hpa = hpas[f"{svc}-api"]
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"{svc}-api",
        }
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert len(hpas) == len(SERVICES)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_scale_on_lag_within_partitions(
    rendered: dict[str, Resources], overlay: str, generator: ModuleType
) -> None:
    resources = rendered[overlay]
    partitions = {t.name: t.partitions for t in TOPICS}
    platform = next(
        r["data"]
        for r in resources
        if r["kind"] == "ConfigMap" and r["metadata"]["name"].startswith("complaints-platform-")
    )
    consumes = {s.name: {t.name for t in s.consumes} for s in generator.SERVICES}
    scaled = by_kind(resources, "ScaledObject")
    for svc in SERVICES:
        so = scaled[f"{svc}-worker"]["spec"]
        assert so["scaleTargetRef"]["name"] == f"{svc}-worker"
        # The worker also relays the outbox and runs timers: never scaled to zero.
        assert so["minReplicaCount"] >= 1
        assert so["minReplicaCount"] <= so["maxReplicaCount"]
        topics = set()
        for trigger in so["triggers"]:
            meta = trigger["metadata"]
            assert trigger["type"] == "kafka"
            assert meta["consumerGroup"] == svc
            assert meta["topic"] in partitions, f"unknown topic {meta['topic']}"
            assert meta["bootstrapServers"] == platform["kafka-bootstrap-servers"]
            assert meta.get("allowIdleConsumers", "false") == "false"
            topics.add(meta["topic"])
        assert topics == consumes[svc]
        assert so["maxReplicaCount"] <= max(partitions[t] for t in topics), (
            f"{svc}-worker may scale past the partitions of its topics"
        )
        assert so["fallback"]["replicas"] <= so["maxReplicaCount"]
    # Nothing deploys a worker that KEDA does not scale.
    workers = {n for n in by_kind(resources, "Deployment") if n.endswith("-worker")}
    assert workers == {so["spec"]["scaleTargetRef"]["name"] for so in scaled.values()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_pdb(rendered: dict[str, Resources], overlay: str) -> None:
    resources = rendered[overlay]
    pdbs = by_kind(resources, "PodDisruptionBudget")
    for name, dep in by_kind(resources, "Deployment").items():
        pdb = pdbs[name]
        assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        # minAvailable would block every drain of a single-replica dev deployment.
        assert pdb["spec"].get("maxUnavailable") == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_the_api_pods(rendered: dict[str, Resources], overlay: str) -> None:
    resources = rendered[overlay]
    deployments = by_kind(resources, "Deployment")
    for name, svc in by_kind(resources, "Service").items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert svc["spec"]["selector"].items() <= labels.items(), name
        assert svc["spec"]["ports"][0]["targetPort"] == "http"


# ------------------------------------------------------------------------------ topics


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_is_declared(rendered: dict[str, Resources], overlay: str) -> None:
    topics = {r["spec"]["topicName"]: r for r in rendered[overlay] if r["kind"] == "KafkaTopic"}
    assert set(topics) == {t.name for t in all_topics_with_dead_letters()}
    for spec in all_topics_with_dead_letters():
        topic = topics[spec.name]["spec"]
        assert topic["partitions"] == spec.partitions
        assert topic["config"]["min.insync.replicas"] <= topic["replicas"]
    replicas = {t["spec"]["replicas"] for t in topics.values()}
    assert replicas == ({1} if overlay == "dev" else {3})


# ------------------------------------------------------------------------------ network


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        op = expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True


def egress_ports(policies: Resources, labels: dict[str, str]) -> set[int]:
    return {
        port["port"]
        for p in policies
        if "Egress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)
        for rule in p["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }


def ingress_ports(policies: Resources, labels: dict[str, str]) -> set[int]:
    return {
        port["port"]
        for p in policies
        if "Ingress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)
        for rule in p["spec"].get("ingress", [])
        for port in rule.get("ports", [])
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_only_what_is_needed(rendered: dict[str, Resources], overlay: str) -> None:
    policies = [r for r in rendered[overlay] if r["kind"] == "NetworkPolicy"]
    deny = by_kind(policies, "NetworkPolicy")["default-deny-all"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for name, meta, _spec in pod_specs(rendered[overlay]):
        labels = meta["labels"]
        svc = labels["app.kubernetes.io/name"]
        component = labels["app.kubernetes.io/component"]
        egress = egress_ports(policies, labels)
        ingress = ingress_ports(policies, labels)
        assert {53, 5432, 4318} <= egress, name
        if component == "migrate":
            assert ingress == set(), f"{name}: nothing calls the migration Job"
            assert egress == {53, 5432, 4318}, name
            continue
        assert ingress == {8080}, name
        # The API server for the migration wait; Kafka for workers only (the API writes the outbox).
        expected = {53, 5432, 4318, 443, 6443} | ({9093, 9094} if component == "worker" else set())
        if svc == "notifications" and component == "worker":
            expected |= {587, 465}  # SMTP submission and implicit TLS; 443 is the SMS and webhooks'
        assert egress == expected, name
    # 443 to every address is only the notifications worker's (its providers); the API server's
    # rule names addresses.
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            wide = [peer for peer in rule.get("to", []) if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
            if wide:
                assert policy["metadata"]["name"] == "notifications-egress-providers", policy["metadata"]
                assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    apiserver = by_kind(policies, "NetworkPolicy")["allow-kube-apiserver"]["spec"]["egress"]
    assert all(
        "/" in peer["ipBlock"]["cidr"] and not peer["ipBlock"]["cidr"].startswith("0.")
        for r in apiserver
        for peer in r["to"]
    )
    # The public ingress reaches intake's API and nothing else.
    public = [
        p
        for p in policies
        for rule in p["spec"].get("ingress", [])
        for peer in rule.get("from", [])
        if peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        == "ingress-nginx"
    ]
    assert [p["spec"]["podSelector"]["matchLabels"] for p in public] == [
        {"app.kubernetes.io/name": "intake", "app.kubernetes.io/component": "api"}
    ]
    ingresses = by_kind(rendered[overlay], "Ingress")
    assert set(ingresses) == {"intake-api"}
    paths = {p["path"] for p in ingresses["intake-api"]["spec"]["rules"][0]["http"]["paths"]}
    assert not paths & {"/healthz", "/readyz", "/metrics", "/", "/v1"}
    assert not [p for p in paths if p.startswith("/v1/admin")], "the admin API must not be public"
    assert "/v1/complaints" in paths


# ------------------------------------------------------------------------------ secrets


def test_no_secret_values_in_prod(rendered: dict[str, Resources]) -> None:
    assert not [r for r in rendered["prod"] if r["kind"] == "Secret"]


def test_dev_secrets_are_obviously_fake(rendered: dict[str, Resources]) -> None:
    import base64

    for secret in (r for r in rendered["dev"] if r["kind"] == "Secret"):
        values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        for key, value in values.items():
            if key.endswith("_DATABASE_URL"):
                assert "dev-only" in value, key
            if key.endswith("_API_KEYS"):
                assert json.loads(value)[0]["client"].startswith("dev-"), key
