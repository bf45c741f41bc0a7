"""The service image: hadolint-clean, and built the way the platform needs."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
DOCKERFILE = DOCKER / "Dockerfile"


def text() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def test_hadolint(tool: Callable[[str], str]) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_builds_from_the_lock_file_for_one_service() -> None:
    dockerfile = text()
    assert "ARG SERVICE" in dockerfile
    syncs = re.findall(r"uv sync ([^\n\\]*)", dockerfile)
    assert syncs, "no uv sync"
    for sync in syncs:
        assert "--frozen" in sync and "--no-dev" in sync
        assert '--package "complaints-${SERVICE}"' in sync
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)


def test_runtime_is_non_root_and_read_only_friendly() -> None:
    runtime = text().split("AS runtime", 1)[1]
    assert "useradd --system --uid 10001" in runtime
    assert re.search(r"^USER 10001:10001$", runtime, re.M)
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime
    assert "TMPDIR=/tmp" in runtime and "HOME=/tmp" in runtime
    assert 'ENTRYPOINT ["/app/bin/service"]' in runtime
    assert re.search(r'^CMD \["api"\]$', runtime, re.M)
    assert "HEALTHCHECK" in runtime
    assert "/app/.venv/bin/complaints-${SERVICE}" in runtime


def test_every_service_listens_on_8080_in_its_container(generator: ModuleType) -> None:
    runtime = text().split("AS runtime", 1)[1]
    for svc in generator.SERVICES:
        assert f"{svc.prefix}HTTP_HOST=0.0.0.0" in runtime
        assert f"{svc.prefix}HTTP_PORT=8080" in runtime


def test_build_context_is_an_allow_list() -> None:
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"
    for needed in ("!pyproject.toml", "!uv.lock", "!libs/", "!services/", "!deploy/docker/bin/"):
        assert needed in rules
    assert "**/.venv" in rules
