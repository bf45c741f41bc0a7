"""The alerts, SLOs and dashboard that ship (deploy/k8s/components/monitoring, generated): the rules
pass `promtool check rules` and the unit tests of tests/deploy/monitoring/alerts.test.yaml (`promtool
test rules`), every alert links a section of the runbook, every query names metrics the code exports,
and the dashboard loads against the schema of Grafana's dashboard model.

promtool is built by `make install` into .tools/promtool/<version> (Go, pinned in the Makefile);
without Go these promtool checks skip, saying so, and the rest run.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "k8s" / "components" / "monitoring"
TESTS = Path(__file__).resolve().parent / "monitoring"
SCHEMA = Path(__file__).resolve().parent / "schemas" / "grafana-dashboard.schema.json"
RUNBOOK = ROOT / "docs" / "operations.md"
# Series that come from outside the platform's code: Strimzi's Kafka Exporter (consumer lag as the
# brokers see it).
EXTERNAL_METRICS = {"kafka_consumergroup_lag"}
# The alerts docs/operations.md ("Alerts") names, each a family the issue asks for.
RUNBOOK_ALERTS = {
    "ComplaintsOutboxStuck",
    "ComplaintsNoActiveRelay",
    "ComplaintsDeadLetters",
    "ComplaintsConsumerLag",
    "ComplaintsConsumerStuck",
    "ComplaintsLoopRestarting",
    "ComplaintsDeadlineBreached",
    "ComplaintsTimersOverdue",
    "ComplaintsDeliveryFailures",
}
PROMQL_WORDS = {
    "by",
    "on",
    "and",
    "or",
    "unless",
    "without",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "time",
    "le",
    "humanizeDuration",
}


def promtool() -> Path:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^PROMTOOL_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert match, "the Makefile pins PROMTOOL_VERSION"
    path = ROOT / ".tools" / "promtool" / match.group(1) / "promtool"
    if not path.exists():
        pytest.skip(f"promtool not built ({path}): `make install` builds it where Go is installed")
    return path


def rule_groups() -> list[dict[str, Any]]:
    (rule,) = yaml.safe_load_all((MONITORING / "prometheusrule.yaml").read_text(encoding="utf-8"))
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (MONITORING / "complaints-dashboard.json").read_text(encoding="utf-8")
    )
    return loaded


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]


def run_promtool(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        [str(promtool()), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def test_the_rules_pass_promtool_check(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups()}))
    run_promtool("check", "rules", "rules.yaml", cwd=tmp_path)


def test_the_alerts_fire_as_their_unit_tests_expect(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups()}))
    (tmp_path / "alerts.test.yaml").write_text((TESTS / "alerts.test.yaml").read_text(encoding="utf-8"))
    run_promtool("test", "rules", "alerts.test.yaml", cwd=tmp_path)


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    records = [{"record": f"dashboard:query_{n}", "expr": expr} for n, expr in enumerate(dashboard_exprs())]
    (tmp_path / "dashboard.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]})
    )
    run_promtool("check", "rules", "dashboard.yaml", cwd=tmp_path)


def test_every_alert_the_runbook_names_ships_with_a_severity_and_a_runbook_section() -> None:
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    alerts = [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]
    assert {a["alert"] for a in alerts} >= RUNBOOK_ALERTS
    for alert in alerts:
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]
        anchor = alert["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor in headings, f"{alert['alert']}: docs/operations.md has no section #{anchor}"


def test_both_slos_have_fast_and_slow_burn_alerts_over_two_windows_each() -> None:
    for slo in ("intake_availability", "acknowledgement_latency"):
        burns = [
            rule
            for group in rule_groups()
            for rule in group["rules"]
            if rule.get("labels", {}).get("slo") == slo and "alert" in rule
        ]
        assert {b["labels"]["severity"] for b in burns} == {"critical", "warning"}, slo
        for burn in burns:
            windows = re.findall(rf"complaints:{slo}:error_ratio_rate(\w+)", burn["expr"])
            assert len(set(windows)) == 2, f"{slo}: a long and a short window in {burn['expr']}"


def exported_metric_names() -> set[str]:
    """Every series name the four services and the shared library export (histograms with their
    _bucket, _count and _sum)."""
    import complaints_common.metrics  # noqa: F401 - registers the shared metrics
    import complaints_compensation.main  # noqa: F401 - and each service's own
    import complaints_followup.main  # noqa: F401
    import complaints_intake.main  # noqa: F401
    import complaints_notifications.main  # noqa: F401

    names = set()
    for metric in REGISTRY.collect():
        names.add(metric.name)
        if metric.type == "histogram":
            names |= {f"{metric.name}_bucket", f"{metric.name}_count", f"{metric.name}_sum"}
        if metric.type == "counter":
            names.add(f"{metric.name}_total")
    return names


def referenced_metrics(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expr)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_strings)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_ranges))
    functions = {w for w in words if re.search(rf"\b{re.escape(w)}\s*\(", without_ranges)}
    labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", without_ranges))
    grouping = {
        label.strip()
        for group in re.findall(r"(?:by|on|without|ignoring)\s*\(([^)]*)\)", without_ranges)
        for label in group.split(",")
    }
    return {
        w
        for w in words - functions - labels - grouping - PROMQL_WORDS
        if not re.fullmatch(r"[0-9.e]+", w) and "_" in w
    }


def test_every_query_names_metrics_the_code_exports() -> None:
    exported = exported_metric_names()
    recorded = {rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule}
    exprs = [rule["expr"] for group in rule_groups() for rule in group["rules"]] + dashboard_exprs()
    unknown = {
        name: expr
        for expr in exprs
        for name in referenced_metrics(expr)
        if name not in exported | recorded | EXTERNAL_METRICS
    }
    assert not unknown, f"queries name metrics nothing exports: {unknown}"


def test_the_dashboard_loads_against_grafanas_dashboard_model() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    board = dashboard()
    jsonschema.Draft202012Validator(schema).validate(board)
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids are unique"
    cells = [
        (p["gridPos"]["x"] + dx, p["gridPos"]["y"] + dy)
        for p in panels
        for dx in range(p["gridPos"]["w"])
        for dy in range(p["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells)), "no two panels overlap"
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)
    variables = {v["name"] for v in board["templating"]["list"]}
    assert {t["datasource"]["uid"] for p in panels for t in p["targets"]} == {"${datasource}"}
    assert "datasource" in variables
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("latency", "per second", "lag", "outbox", "dead letters", "deadlines"):
        assert topic in titles, f"the dashboard shows {topic}"
