"""The published documents, checked by the standards' own tools.

OpenAPI: openapi-spec-validator (PyPI) and Redocly CLI's recommended rules (npm), zero errors and
zero warnings. AsyncAPI: the official parser (@asyncapi/parser, npm), zero errors and warnings. Event
schemas: their JSON Schema 2020-12 metaschema (check-jsonschema, and Ajv inside the AsyncAPI check).
The npm tools come from tools/standards/package-lock.json, installed by `make test` (npm ci); where
node is missing those checks are skipped, and say so.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi_problem.error import StatusProblem
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from complaints_common.problems import DEFAULT_PROBLEM_BASE_URI

ROOT = Path(__file__).resolve().parents[2]
STANDARDS = ROOT / "tools" / "standards"
PROBLEM_DOCS = ROOT / "docs" / "problems"
SERVICES = ("intake", "compensation", "followup", "notifications")
# Both, or neither: `make test` installs the tools with npm and the tests run them with node.
NODE = shutil.which("node") if shutil.which("npm") else None
# Redocly's CLI reports usage and checks for updates over the network unless told not to.
QUIET_ENV = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


def node_tool(relative: str) -> Path:
    if NODE is None:
        pytest.skip("node or npm is not installed: the npm-based standards checks are skipped")
    path = STANDARDS / "node_modules" / relative
    if not path.exists():
        pytest.fail(f"{path} is missing: `make test` installs it (npm ci --prefix tools/standards)")
    return path


@pytest.fixture(scope="module")
def openapi() -> dict[str, dict[str, Any]]:
    return {
        name: importlib.import_module(f"complaints_{name}.main").create_app().openapi() for name in SERVICES
    }


@pytest.fixture(scope="module")
def openapi_files(openapi: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("openapi")
    paths = []
    for name, document in openapi.items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(document, indent=1))
        paths.append(path)
    return paths


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_is_valid_by_openapi_spec_validator(openapi: dict[str, dict[str, Any]], service: str) -> None:
    validate(openapi[service])  # raises naming the first violation


def test_openapi_passes_redocly_recommended_rules_without_a_warning(openapi_files: list[Path]) -> None:
    redocly = node_tool(".bin/redocly")
    result = subprocess.run(
        [
            str(redocly),
            "lint",
            "--config",
            str(STANDARDS / "redocly.yaml"),
            "--format=json",
            *map(str, openapi_files),
        ],
        capture_output=True,
        text=True,
        env=QUIET_ENV,
        timeout=180,
        check=False,
    )
    # One JSON report per file, one after the other.
    reports, text, decoder = [], result.stdout.strip(), json.JSONDecoder()
    while text:
        report, end = decoder.raw_decode(text)
        reports.append(report)
        text = text[end:].strip()
    assert len(reports) == len(openapi_files), result.stdout + result.stderr
    problems = [
        f"{p['ruleId']}: {p['message']} at {[where.get('pointer') for where in p['location']]}"
        for report in reports
        for p in report["problems"]
    ]
    assert problems == [], "\n".join(problems)
    assert result.returncode == 0, result.stderr


def test_asyncapi_is_parsed_by_the_official_parser_without_a_warning() -> None:
    node_tool("@asyncapi/parser/package.json")
    result = subprocess.run(
        [str(NODE), str(STANDARDS / "asyncapi.mjs"), str(ROOT / "docs/events/asyncapi.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("0 errors, 0 warnings, 0 notes"), result.stdout


def test_event_schemas_are_valid_against_their_metaschema() -> None:
    schemas = sorted((ROOT / "docs/events/schemas").glob("*.json"))
    for path in schemas:
        Draft202012Validator.check_schema(json.loads(path.read_text()))
    check_jsonschema = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert check_jsonschema, "check-jsonschema comes with the dev dependencies"
    result = subprocess.run(
        [check_jsonschema, "--check-metaschema", *map(str, schemas)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _problem_kinds() -> list[type[StatusProblem]]:
    for name in SERVICES:
        importlib.import_module(f"complaints_{name}.main")
    found, pending = [], list(StatusProblem.__subclasses__())
    while pending:
        kind = pending.pop()
        pending += kind.__subclasses__()
        if kind.__module__.startswith("complaints_"):
            found.append(kind)
    return found


def test_every_problem_type_has_one_documented_page() -> None:
    kinds = _problem_kinds()
    assert len(kinds) >= 10
    for kind in kinds:
        page = PROBLEM_DOCS / f"{kind.type_}.md"
        assert page.exists(), f"{kind.__name__}: no docs/problems/{kind.type_}.md"
        text = page.read_text()
        assert f"- Title: {kind.title}" in text, page
        assert kind.__name__ == "HttpError" or f"- Status: {kind.status}" in text, page
    types = [kind.type_ for kind in kinds]
    assert len(types) == len(set(types)), "one type per kind of problem"


def test_documented_problem_examples_use_absolute_types_with_a_page(
    openapi: dict[str, dict[str, Any]],
) -> None:
    examples = []
    for document in openapi.values():
        for item in document["paths"].values():
            for operation in item.values():
                for status, response in operation["responses"].items():
                    media = response.get("content", {}).get("application/problem+json")
                    if media and "example" in media:
                        examples.append(media["example"]["type"])
                    if status == "401":
                        assert "WWW-Authenticate" in response["headers"]
    assert examples
    for uri in examples:
        assert uri.startswith(DEFAULT_PROBLEM_BASE_URI), uri
        assert re.fullmatch(r"[a-z-]+", uri.removeprefix(DEFAULT_PROBLEM_BASE_URI)), uri
        assert (PROBLEM_DOCS / f"{uri.removeprefix(DEFAULT_PROBLEM_BASE_URI)}.md").exists(), uri


def test_every_operation_names_its_scope_its_auth_errors_and_a_real_example_per_problem(
    openapi: dict[str, dict[str, Any]],
) -> None:
    """What an integrator relies on: the scope each operation needs, 401/403 where a caller is
    needed, and a real example (absolute type with its page, a title, a detail) on every problem."""
    incomplete = []
    for service, document in openapi.items():
        for path, item in document["paths"].items():
            for method, operation in item.items():
                label = f"{service} {method.upper()} {path}"
                responses = operation["responses"]
                if operation.get("security") != []:
                    scopes = operation.get("x-required-scopes")
                    if not scopes and not operation.get("x-platform-operator"):
                        incomplete.append(f"{label}: no scope")
                    if scopes and not all(req == dict.fromkeys(req, scopes) for req in operation["security"]):
                        incomplete.append(f"{label}: security requirements without the scope")
                    if scopes and f"`{scopes[0]}`" not in operation.get("description", ""):
                        incomplete.append(f"{label}: the description does not name the scope")
                    incomplete += [f"{label}: no {s}" for s in ("401", "403") if s not in responses]
                for status, response in responses.items():
                    media = response.get("content", {}).get("application/problem+json")
                    if media is None:
                        continue
                    example = media.get("example")
                    if not example or not example.get("detail") or not example.get("title"):
                        incomplete.append(f"{label} {status}: no real example")
                        continue
                    name = example["type"].removeprefix(DEFAULT_PROBLEM_BASE_URI)
                    if not (PROBLEM_DOCS / f"{name}.md").exists():
                        incomplete.append(f"{label} {status}: {example['type']} has no page")
                    if status.isdigit() and example["status"] != int(status):
                        incomplete.append(f"{label} {status}: the example says {example['status']}")
    assert not incomplete, "\n".join(incomplete)
