"""Policy scan (checkov) of the rendered overlays and the Dockerfile, offline.

Checkov runs with --skip-download and without an API key, so it reports no severities: every failed
check counts as a finding, except the deliberate exceptions in deploy/policy-exceptions.yaml, each
with its reason. An exception that no longer matches anything fails the test too.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXCEPTIONS = ROOT / "deploy" / "policy-exceptions.yaml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"


def load_exceptions() -> list[dict[str, Any]]:
    data = yaml.safe_load(EXCEPTIONS.read_text(encoding="utf-8"))
    entries: list[dict[str, Any]] = data["checkov"]
    return entries


@pytest.fixture(scope="module")
def checkov_report(
    rendered_dir: Path, tool: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("checkov")
    for path in rendered_dir.iterdir():
        shutil.copy(path, folder / path.name)
    shutil.copy(DOCKERFILE, folder / "Dockerfile")
    env = {
        **os.environ,
        # Offline: no version check, no mapping or guideline download from the vendor's platform.
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
        "BC_SKIP_MAPPING": "TRUE",
    }
    result = subprocess.run(
        [
            tool("checkov"),
            "--directory",
            str(folder),
            "--framework",
            "kubernetes",
            "dockerfile",
            "--skip-download",
            "--compact",
            "--quiet",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=folder,
        check=False,
    )
    # 0: no failed check, 1: failed checks (judged below); anything else is a crash.
    assert result.returncode in (0, 1), f"checkov crashed:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    reports: list[dict[str, Any]] = report if isinstance(report, list) else [report]
    return reports


def test_exceptions_have_reasons() -> None:
    for entry in load_exceptions():
        assert entry["id"].startswith("CKV"), entry
        assert entry["resources"], entry["id"]
        assert len(entry.get("reason", "").split()) >= 10, f"{entry['id']}: say why"


def test_both_frameworks_scanned(checkov_report: list[dict[str, Any]]) -> None:
    summaries = {r["check_type"]: r["summary"] for r in checkov_report}
    assert set(summaries) == {"kubernetes", "dockerfile"}
    assert all(s["parsing_errors"] == 0 for s in summaries.values()), summaries
    assert summaries["kubernetes"]["resource_count"] > 100, summaries
    assert summaries["kubernetes"]["passed"] > 1000, summaries


def test_no_findings_beyond_the_documented_exceptions(
    checkov_report: list[dict[str, Any]],
) -> None:
    exceptions = load_exceptions()
    used: set[str] = set()
    findings: list[str] = []
    for report in checkov_report:
        for failed in report["results"]["failed_checks"]:
            check, resource = failed["check_id"], failed["resource"]
            match = next(
                (
                    e
                    for e in exceptions
                    if e["id"] == check
                    and any(fnmatch.fnmatchcase(resource, pattern) for pattern in e["resources"])
                ),
                None,
            )
            if match is None:
                findings.append(f"{check} {failed['check_name']}: {resource} ({failed['file_path']})")
            else:
                used.add(check)
    assert not findings, "policy findings (fix them, or add a reasoned exception):\n" + "\n".join(
        sorted(set(findings))
    )
    stale = {e["id"] for e in exceptions} - used
    assert not stale, f"exceptions that match nothing any more (remove them): {sorted(stale)}"
