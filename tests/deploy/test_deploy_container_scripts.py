"""The two helper scripts baked into the image: the migration waiter and the health check."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BIN = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "bin"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"complaints_deploy_{name}", BIN / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


wait_for_job = load("wait_for_job")
healthcheck = load("healthcheck")


def job(version: str = "1.2.3", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "intake-migrate", "labels": {"app.kubernetes.io/version": version}},
        "spec": {"completions": 1},
        "status": status,
    }


def condition(kind: str, status: str = "True") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": "R", "message": "m"}


@pytest.mark.parametrize(
    ("resource", "done", "failed"),
    [
        (job(active=1), False, False),
        (job(succeeded=1, conditions=[condition("Complete")]), True, False),
        (job(succeeded=1), True, False),
        (job(failed=5, conditions=[condition("Failed")]), False, True),
        (job(conditions=[condition("Complete", "False")], active=1), False, False),
        (job(version="1.2.2", succeeded=1, conditions=[condition("Complete")]), False, False),
    ],
)
def test_judge(resource: dict[str, Any], done: bool, failed: bool) -> None:
    verdict = wait_for_job.judge(resource, "1.2.3")
    assert (verdict.done, verdict.failed) == (done, failed), verdict.reason


def test_judge_without_expected_version_accepts_any() -> None:
    assert wait_for_job.judge(job(version="0.9", succeeded=1), "").done


class FakeApi:
    """A stand-in for the Kubernetes API on 127.0.0.1: serves a sequence of Job states."""

    def __init__(self, responses: list[tuple[int, dict[str, Any]]]) -> None:
        self.responses = responses
        self.requests: list[tuple[str, str | None]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests.append((self.path, self.headers.get("Authorization")))
                index = min(len(api.requests), len(api.responses)) - 1
                code, body = api.responses[index]
                payload = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("test-token\n", encoding="utf-8")
    return path


@pytest.fixture
def fake_api() -> Iterator[Any]:
    servers: list[FakeApi] = []

    def start(responses: list[tuple[int, dict[str, Any]]]) -> FakeApi:
        servers.append(FakeApi(responses))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def run(api: FakeApi, token: Path, *extra: str) -> int:
    code: int = wait_for_job.main(
        [
            "--job",
            "intake-migrate",
            "--namespace",
            "complaints",
            "--version",
            "1.2.3",
            "--api-url",
            api.url,
            "--token-file",
            str(token),
            "--interval",
            "0.01",
            "--timeout",
            "5",
            *extra,
        ]
    )
    return code


def test_waits_until_the_job_of_this_release_completes(fake_api: Any, token: Path) -> None:
    api = fake_api(
        [
            (404, {"kind": "Status", "code": 404}),
            (200, job(version="1.2.2", succeeded=1, conditions=[condition("Complete")])),
            (200, job(active=1)),
            (200, job(succeeded=1, conditions=[condition("Complete")])),
        ]
    )
    assert run(api, token) == 0
    assert len(api.requests) == 4
    path, auth = api.requests[0]
    assert path == "/apis/batch/v1/namespaces/complaints/jobs/intake-migrate"
    assert auth == "Bearer test-token"


def test_fails_when_the_job_failed(fake_api: Any, token: Path) -> None:
    api = fake_api([(200, job(failed=5, conditions=[condition("Failed")]))])
    assert run(api, token) == 1


def test_gives_up_after_the_timeout(fake_api: Any, token: Path) -> None:
    api = fake_api([(200, job(active=1))])
    assert run(api, token, "--timeout", "0.2") == 1


def test_keeps_waiting_through_api_errors(fake_api: Any, token: Path) -> None:
    api = fake_api([(500, {}), (403, {}), (200, job(succeeded=1))])
    assert run(api, token) == 0


def test_misconfiguration_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert wait_for_job.main(["--job", "x", "--namespace", "ns"]) == 2
    assert (
        wait_for_job.main(
            [
                "--job",
                "x",
                "--namespace",
                "ns",
                "--api-url",
                "https://h",
                "--token-file",
                str(tmp_path / "missing"),
            ]
        )
        == 2
    )


def test_healthcheck(fake_api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api = fake_api([(200, {"status": "ok"})])
    port = api.url.rsplit(":", 1)[1]
    monkeypatch.setenv("SERVICE", "intake")
    monkeypatch.setenv("INTAKE_HTTP_PORT", port)
    assert healthcheck.port_from_env() == int(port)
    assert healthcheck.main(["--path", "/readyz"]) == 0
    assert api.requests[0][0] == "/readyz"
    down = fake_api([(503, {"status": "down"})])
    assert healthcheck.main(["--port", down.url.rsplit(":", 1)[1]]) == 1
