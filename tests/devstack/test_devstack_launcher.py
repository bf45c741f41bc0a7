"""`complaints-dev run` with fake services: start order, readiness, Ctrl-C and failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from complaints_common.api import hash_key as hash_api_key
from complaints_devstack._process import pid_alive
from complaints_devstack.launcher import DEV_API_KEY
from complaints_devstack.ports import free_port, port_in_use

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent


@dataclass
class Stack:
    """A launcher subprocess (tests/devstack/fake_stack.py) and its output file."""

    proc: subprocess.Popen[bytes]
    output: Path
    markers: Path
    ports: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for_output(self, needle: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not printed; output:\n{self.text()}")
            time.sleep(0.05)

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the launcher did not exit; output:\n{self.text()}") from None

    def marker(self, name: str) -> dict[str, str]:
        data: dict[str, str] = json.loads((self.markers / f"{name}.json").read_text())
        return data


StartStack = Callable[..., Stack]


@pytest.fixture
def start_stack(scratch_dir: Path) -> Iterator[StartStack]:
    stacks: list[Stack] = []

    def start(
        services: list[str],
        extra_env: dict[str, str] | None = None,
        ports: dict[str, int] | None = None,
        output_name: str = "launcher.out",
    ) -> Stack:
        markers = scratch_dir / "markers"
        markers.mkdir(exist_ok=True)
        ports = ports or {name: free_port() for name in services}
        config = {"run_dir": str(scratch_dir / ".run"), "services": list(ports.items())}
        config_path = scratch_dir / "stack.json"
        config_path.write_text(json.dumps(config))
        env = {**os.environ, "FAKE_MARKER_DIR": str(markers), **(extra_env or {})}
        env.pop("COMPLAINTS_API_KEYS", None)
        output = scratch_dir / output_name
        with output.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, str(HERE / "fake_stack.py"), str(config_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        stack = Stack(proc, output, markers, ports)
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:  # never leave a launcher (and its children) behind
        if stack.proc.poll() is None:
            stack.proc.send_signal(signal.SIGTERM)
            stack.proc.wait(30)
    kill_leftovers(scratch_dir / ".run")


def kill_leftovers(run_dir: Path) -> None:
    """SIGKILL what a SIGKILLed launcher left behind (its pid files, PostgreSQL's postmaster.pid)."""
    pids = [json.loads(p.read_text())["pid"] for p in run_dir.glob("pids/*.json")]
    postmaster = run_dir / "pgdata" / "postmaster.pid"
    if postmaster.exists():
        pids.append(int(postmaster.read_text().split()[0]))
    for pid in pids:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_run_starts_embedded_infra_and_services_and_stops_on_sigint(start_stack: StartStack) -> None:
    pg_port, kafka_port = free_port(), free_port()
    stack: Stack = start_stack(
        ["alpha", "beta"],
        {
            "COMPLAINTS_EMBEDDED_PG_PORT": str(pg_port),
            "COMPLAINTS_EMBEDDED_KAFKA_PORT": str(kafka_port),
            "OTEL_SERVICE_NAME": "passed-through",
            "FAKE_READY_DELAY": "0.5",  # the launcher must poll until /readyz says 200
        },
    )
    stack.wait_for_output("the platform is up")
    for port in (pg_port, kafka_port, *stack.ports.values()):
        assert port_in_use(port)
    assert httpx.get(f"http://127.0.0.1:{stack.ports['alpha']}/readyz").status_code == 200

    migrated, served = stack.marker("alpha.migrate"), stack.marker("beta.serve")
    assert migrated["ALPHA_DATABASE_URL"] == f"postgresql+asyncpg://postgres@127.0.0.1:{pg_port}/complaints"
    assert served["BETA_KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{kafka_port}"
    assert served["BETA_HTTP_PORT"] == str(stack.ports["beta"])
    assert json.loads(served["BETA_API_KEYS"])[0]["sha256"] == hash_api_key(DEV_API_KEY)
    assert served["OTEL_SERVICE_NAME"] == "passed-through"
    assert "development only" in stack.text()

    stack.proc.send_signal(signal.SIGINT)
    assert stack.wait() == 0
    for port in (pg_port, kafka_port, *stack.ports.values()):
        assert not port_in_use(port), f"port {port} still open after Ctrl-C:\n{stack.text()}"
    logs = stack.output.parent / ".run" / "logs"
    assert "stopped cleanly" in (logs / "alpha.log").read_text()  # SIGTERM, not SIGKILL
    assert (stack.output.parent / ".run" / "pgdata" / "PG_VERSION").exists()
    assert list((stack.output.parent / ".run" / "pids").glob("*")) == []


def test_run_stops_everything_when_a_service_dies(
    start_stack: StartStack,
    pg_server_url: str,
    kafka_bootstrap: str,
) -> None:
    stack: Stack = start_stack(
        ["alpha", "beta"],
        {
            "COMPLAINTS_DATABASE_URL": pg_server_url,
            "COMPLAINTS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "FAKE_BETA_DIE_AFTER": "1.5",
        },
    )
    assert stack.wait() == 1
    out = stack.text()
    assert "beta exited unexpectedly (exit 3)" in out
    assert "fake beta: listening" in out  # the tail of its log
    assert "starting PostgreSQL" not in out  # a configured URL wins
    assert not port_in_use(stack.ports["alpha"])


def test_run_fails_cleanly_when_a_migration_fails(
    start_stack: StartStack,
    pg_server_url: str,
    kafka_bootstrap: str,
) -> None:
    stack: Stack = start_stack(
        ["alpha"],
        {
            "COMPLAINTS_DATABASE_URL": pg_server_url,
            "COMPLAINTS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "FAKE_MIGRATE_EXIT": "2",
        },
    )
    assert stack.wait() == 1
    out = stack.text()
    assert "alpha migrate failed (exit 2)" in out
    assert "fake alpha: migrated" in out
    assert not (stack.markers / "alpha.serve.json").exists()


def test_up_infra_starts_and_stops_on_sigterm(scratch_dir: Path) -> None:
    pg_port, kafka_port = free_port(), free_port()
    env = {
        **os.environ,
        "COMPLAINTS_EMBEDDED_PG_PORT": str(pg_port),
        "COMPLAINTS_EMBEDDED_KAFKA_PORT": str(kafka_port),
    }
    env.pop("COMPLAINTS_DATABASE_URL", None)
    env.pop("COMPLAINTS_KAFKA_BOOTSTRAP_SERVERS", None)
    output = scratch_dir / "out"
    exe = Path(sys.executable).parent / "complaints-dev"
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "--run-dir", str(scratch_dir / ".run"), "up-infra"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    stack = Stack(proc, output, scratch_dir)
    try:
        stack.wait_for_output("the infrastructure is up")
        assert port_in_use(pg_port) and port_in_use(kafka_port)
        assert f"postgresql+asyncpg://postgres@127.0.0.1:{pg_port}/complaints" in stack.text()
        proc.send_signal(signal.SIGTERM)
        assert stack.wait() == 0
        assert not port_in_use(pg_port) and not port_in_use(kafka_port)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        kill_leftovers(scratch_dir / ".run")


def test_sigint_during_start_up_stops_what_was_started(start_stack: StartStack) -> None:
    pg_port = free_port()
    stack: Stack = start_stack(
        ["alpha"],
        {
            "COMPLAINTS_EMBEDDED_PG_PORT": str(pg_port),
            "COMPLAINTS_EMBEDDED_KAFKA_PORT": str(free_port()),
            "FAKE_MIGRATE_SLEEP": "30",
        },
    )
    stack.wait_for_output("migrating alpha")
    stack.proc.send_signal(signal.SIGINT)
    assert stack.wait(timeout=20) == 0
    assert "stopping PostgreSQL" in stack.text()
    assert not port_in_use(pg_port)


def test_a_second_run_stops_what_a_killed_launcher_left_running(start_stack: StartStack) -> None:
    pg_port, kafka_port, alpha_port = free_port(), free_port(), free_port()
    env = {
        "COMPLAINTS_EMBEDDED_PG_PORT": str(pg_port),
        "COMPLAINTS_EMBEDDED_KAFKA_PORT": str(kafka_port),
    }
    first: Stack = start_stack(["alpha"], env, {"alpha": alpha_port})
    first.wait_for_output("the platform is up")
    first.proc.kill()  # SIGKILL: no chance to stop its children
    first.proc.wait()
    assert port_in_use(pg_port) and port_in_use(kafka_port) and port_in_use(alpha_port)

    second: Stack = start_stack(["alpha"], env, {"alpha": alpha_port})
    second.wait_for_output("the platform is up")
    out = second.text()
    assert "stopping alpha left running by an earlier run" in out
    assert "stopping broker left running by an earlier run" in out
    second.proc.send_signal(signal.SIGINT)
    assert second.wait() == 0
    for port in (pg_port, kafka_port, alpha_port):
        assert not port_in_use(port)


def test_a_second_launcher_on_the_same_run_dir_is_refused(
    start_stack: StartStack, pg_server_url: str, kafka_bootstrap: str
) -> None:
    env = {"COMPLAINTS_DATABASE_URL": pg_server_url, "COMPLAINTS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    first: Stack = start_stack(["alpha"], env)
    first.wait_for_output("the platform is up")
    second: Stack = start_stack(["beta"], env, output_name="second.out")
    assert second.wait() == 1
    assert f"another complaints-dev (pid {first.proc.pid}) is running" in second.text()
    assert first.proc.poll() is None, "the first launcher must be left alone"
    first.proc.send_signal(signal.SIGINT)
    assert first.wait() == 0
