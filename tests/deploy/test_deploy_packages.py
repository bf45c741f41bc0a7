"""Each service's shipped package imports, module by module, with only its production dependencies.

The image installs `uv sync --frozen --no-dev --no-editable --package complaints-<svc>` (see
deploy/docker/Dockerfile); this builds the same environment from the lock, offline (the packages are
in uv's cache since `make install`), and imports every module of the service and of complaints-common
there. A benchmark or test helper left in a service package that needs a development package
(aiosmtpd, complaints-devstack, pytest) fails here instead of in production.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["intake", "compensation", "followup", "notifications"]
DEVELOPMENT_ONLY = ["complaints_devstack", "pytest", "aiosmtpd", "hypothesis", "schemathesis", "locust"]

IMPORT_EVERY_MODULE = """
import importlib, importlib.util, pkgutil, sys
packages = sys.argv[1:]
for name in packages:
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(module.name)
present = [m for m in {dev_only!r} if importlib.util.find_spec(m) is not None]
assert not present, f"development packages in the production environment: {{present}}"
print("imported", sum(1 for m in sys.modules if m.startswith(tuple(packages))), "modules")
"""


def uv() -> str:
    local = ROOT / ".tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is not installed: run `make install`")
    return found


@pytest.fixture(scope="module")
def production_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One environment directory that each service's check syncs to exactly its own closure in turn
    (`uv sync` removes what the package does not declare), and a bytecode cache beside it (not in
    it, so nothing of a removed package stays behind): the services share most of their
    dependencies, and each import of them after the first reads what the first compiled."""
    return tmp_path_factory.mktemp("production") / "venv", tmp_path_factory.mktemp("pycache")


@pytest.mark.parametrize("service", SERVICES)
def test_every_module_imports_without_development_dependencies(
    service: str, tmp_path: Path, production_env: tuple[Path, Path]
) -> None:
    venv, pycache = production_env
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON": sys.executable}
    package = f"complaints-{service}"
    # Rebuilt from the work tree: uv would otherwise reuse a wheel it built from older sources.
    rebuild = ["--reinstall-package", package, "--reinstall-package", "complaints-common"]
    subprocess.run(
        [
            uv(),
            "sync",
            "--frozen",
            "--offline",
            "--no-dev",
            "--no-editable",
            "--quiet",
            "--package",
            package,
            *rebuild,
        ],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    script = IMPORT_EVERY_MODULE.format(dev_only=DEVELOPMENT_ONLY)
    imports_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            script,
            package.replace("-", "_"),
            "complaints_common",
        ],
        cwd=tmp_path,  # not the work tree: nothing may be imported from the sources
        env={**imports_env, "PYTHONPYCACHEPREFIX": str(pycache)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("imported ")


def shipped_modules() -> list[Path]:
    """Every module of the packages the image ships: each service's and complaints-common's."""
    roots = [ROOT / "libs" / "common" / "complaints_common"]
    roots += [ROOT / "services" / s / f"complaints_{s}" for s in SERVICES]
    return sorted(path for root in roots for path in root.rglob("*.py") if "migrations" not in path.parts)


def development_only_modules() -> set[str]:
    """The top-level modules of what only the development groups of pyproject.toml declare (and
    complaints-devstack): a shipped module must import none of them."""
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    declared = {_distribution(requirement) for group in groups.values() for requirement in group}
    shipped = ROOT.glob("services/*/pyproject.toml")
    production = {
        _distribution(requirement)
        for path in [ROOT / "libs" / "common" / "pyproject.toml", *shipped]
        for requirement in tomllib.loads(path.read_text())["project"]["dependencies"]
    }
    development = (declared - production) | {"complaints-devstack"}
    return {
        module
        for module, distributions in importlib.metadata.packages_distributions().items()
        if any(_distribution(d) in development for d in distributions)
    } | set(DEVELOPMENT_ONLY)


def _distribution(requirement: str) -> str:
    """`testcontainers[postgres]>=4` -> `testcontainers` (normalised as PEP 503 says)."""
    name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_top_levels(path: Path) -> set[str]:
    """The top-level names a module imports anywhere in it (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_no_shipped_module_imports_a_development_only_package() -> None:
    """The quick, static half of the check above, for every shipped package at once: it also sees
    an import inside a function, which importing the module would not run."""
    development = development_only_modules()
    assert {"pytest", "aiosmtpd", "complaints_devstack", "testcontainers"} <= development
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_levels(path) & development)
        for path in shipped_modules()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_no_test_or_benchmark_module_is_shipped() -> None:
    """Test and benchmark helpers live in tests/, benchmarks/ and complaints-devstack."""
    helpers = [
        str(path.relative_to(ROOT))
        for path in shipped_modules()
        if path.stem in {"testing", "conftest", "fixtures"} or path.stem.startswith(("bench", "test_"))
    ]
    assert helpers == []
