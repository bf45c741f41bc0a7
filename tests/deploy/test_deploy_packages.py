"""Each service's shipped package imports, module by module, with only its production dependencies.

The image installs `uv sync --frozen --no-dev --no-editable --package complaints-<svc>` (see
deploy/docker/Dockerfile); this builds the same environment from the lock, offline (the packages are
in uv's cache since `make install`), and imports every module of the service and of complaints-common
there. A benchmark or test helper left in a service package that needs a development package
(aiosmtpd, complaints-devstack, pytest) fails here instead of in production.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


@pytest.mark.parametrize("service", SERVICES)
def test_every_module_imports_without_development_dependencies(service: str, tmp_path: Path) -> None:
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"), "UV_PYTHON": sys.executable}
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
    result = subprocess.run(
        [
            str(tmp_path / "venv" / "bin" / "python"),
            "-c",
            script,
            package.replace("-", "_"),
            "complaints_common",
        ],
        cwd=tmp_path,  # not the work tree: nothing may be imported from the sources
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("imported ")
