"""The one process harness: the services as real subprocesses, for `complaints-dev run`, the
end-to-end tests (tests/e2e/conftest.py) and the benchmarks (benchmarks/stack.py).

A `ServiceSpec` says how one process runs (`migrate` to completion first, `serve` kept running);
`ServiceProcesses` spawns them with the environment its owner builds, each in its own session (a
terminal's Ctrl-C reaches only the owner, which stops them in order), each writing to
`<logs_dir>/<instance>.log`, and waits until they answer `/readyz` with 200, stops, kills and
restarts them. What differs between the three owners is only the environment and the ports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from complaints_devstack._process import kill_child, log_tail, stop_child, wait_or_kill
from complaints_devstack.ports import LOCALHOST


class StackError(RuntimeError):
    """A service process failed to migrate, exited, or did not become ready; the message says
    which and quotes its log."""


@dataclass(frozen=True)
class ServiceSpec:
    """One service process: `migrate` runs to completion first (if given), `serve` keeps running."""

    name: str
    port: int
    serve: tuple[str, ...]
    migrate: tuple[str, ...] | None = None
    # 1 for the first process of a service; 2, 3, ... for further replicas in its consumer groups.
    replica: int = 1

    @property
    def env_prefix(self) -> str:
        return self.name.upper() + "_"

    @property
    def instance(self) -> str:
        """The process's own name (logs, pid files): `followup`, `followup-2`, ..."""
        return self.name if self.replica == 1 else f"{self.name}-{self.replica}"

    @property
    def base_url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"


def service_executable(name: str) -> Path:
    """The console script `complaints-<name>`, installed next to this Python in the same venv."""
    return Path(sys.executable).parent / f"complaints-{name}"


# The environment of one process, by its instance name: the owner's settings on top of its own.
Environment = Callable[[str], Mapping[str, str]]


class ServiceProcesses:
    """The service processes of one stack, by instance name: each spec's own (`intake`, `intake-2`),
    or the keys of a mapping (`intake-api`, `intake-worker`: two ways to run one service)."""

    def __init__(
        self, specs: Iterable[ServiceSpec] | Mapping[str, ServiceSpec], env: Environment, logs_dir: Path
    ) -> None:
        self.specs = dict(specs) if isinstance(specs, Mapping) else {spec.instance: spec for spec in specs}
        self.logs_dir = logs_dir
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self._env = env
        self._logs: dict[str, IO[bytes]] = {}
        self._written: set[str] = set()  # logs this harness began: a restart appends to its own

    def env(self, instance: str) -> dict[str, str]:
        return dict(self._env(instance))

    def url(self, instance: str) -> str:
        return self.specs[instance].base_url

    def log_path(self, log_name: str) -> Path:
        return self.logs_dir / f"{log_name}.log"

    def log_tail(self, instance: str) -> str:
        return log_tail(self.log_path(instance))

    def pids(self) -> dict[str, int]:
        return {instance: proc.pid for instance, proc in self.running.items()}

    # -- starting and stopping ----------------------------------------------------------------------

    def migrate(
        self, instance: str, timeout: float = 300.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        """Run the instance's `migrate` to completion (log `<name>-migrate.log`); `sleep` is how the
        wait pauses (the launcher's notices a stop request)."""
        spec = self.specs[instance]
        if spec.migrate is None:
            raise StackError(f"{instance} is a further replica: its service's first one migrates")
        log_name = f"{spec.name}-migrate"
        proc = self._spawn(instance, spec.migrate, log_name)
        try:
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                sleep(0.1)
            timed_out = proc.poll() is None
        finally:
            stop_child(proc)
            self._close_log(log_name)
        if timed_out or proc.returncode != 0:
            what = "timed out" if timed_out else f"failed (exit {proc.returncode})"
            path = self.log_path(log_name)
            raise StackError(f"{spec.name} migrate {what}; log {path}:\n{log_tail(path)}")

    def start(self, instance: str) -> subprocess.Popen[bytes]:
        spec = self.specs[instance]
        proc = self._spawn(instance, spec.serve, instance)
        self.running[instance] = proc
        return proc

    def kill(self, instance: str) -> None:
        """kill -9: no shutdown hook runs, nothing is flushed."""
        kill_child(self.running.pop(instance))
        self._close_log(instance)

    def stop(self, instance: str, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after timeout; nothing when it does not run."""
        proc = self.running.pop(instance, None)
        if proc is not None:
            stop_child(proc, signal.SIGTERM, timeout)
            self._close_log(instance)

    def stop_all(self, timeout: float = 15.0) -> list[str]:
        """SIGTERM every process at once, then wait for each within one shared timeout (SIGKILL
        after it); returns the instances stopped, in start order."""
        stopped = list(self.running)
        for proc in self.running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for instance in stopped:
            wait_or_kill(self.running.pop(instance), max(0.0, deadline - time.monotonic()))
            self._close_log(instance)
        return stopped

    def _spawn(self, instance: str, argv: Sequence[str], log_name: str) -> subprocess.Popen[bytes]:
        if os.sep in argv[0] and not Path(argv[0]).exists():
            raise StackError(f"{argv[0]} is not installed: run `uv sync --all-packages` first")
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path(log_name).open("ab" if log_name in self._written else "wb")
        self._written.add(log_name)
        self._logs[log_name] = log
        return subprocess.Popen(  # noqa: S603 - argv from the service table, no shell
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env(instance),
            start_new_session=True,
        )

    def _close_log(self, log_name: str) -> None:
        log = self._logs.pop(log_name, None)
        if log is not None:
            log.close()

    # -- watching -------------------------------------------------------------------------------------

    def exited(self) -> str | None:
        """Why the first running process that exited did (with its log), or None while all run."""
        for instance, proc in self.running.items():
            if proc.poll() is not None:
                return (
                    f"{instance} exited unexpectedly (exit {proc.returncode}); "
                    f"log {self.log_path(instance)}:\n{self.log_tail(instance)}"
                )
        return None

    def wait_ready(
        self,
        instances: Iterable[str],
        timeout: float = 90.0,
        *,
        path: str = "/readyz",
        sleep: Callable[[float], None] = time.sleep,
        on_ready: Callable[[str], None] = lambda _: None,
    ) -> None:
        """Until each instance answers `path` (/readyz: ready, /healthz: serving) with 200: a
        worker is ready only once its consumers hold their partitions. StackError when one exits
        or the timeout passes, with the last answer and the log."""
        pending = list(instances)
        why: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for instance in list(pending):
                    if self.running[instance].poll() is not None:
                        raise StackError(self.exited() or f"{instance} exited")
                    not_ready = _not_ready_reason(client, self.url(instance) + path)
                    if not_ready is None:
                        on_ready(instance)
                        pending.remove(instance)
                    else:
                        why[instance] = not_ready
                if pending and time.monotonic() > deadline:
                    raise StackError("\n".join(self._not_ready(i, path, timeout, why) for i in pending))
                if pending:
                    sleep(0.1)

    def _not_ready(self, instance: str, path: str, timeout: float, why: Mapping[str, str]) -> str:
        return (
            f"{instance} did not answer {self.url(instance)}{path} with 200 within {timeout} s "
            f"(last answer: {why.get(instance, 'none')}); "
            f"log {self.log_path(instance)}:\n{self.log_tail(instance)}"
        )


def _not_ready_reason(client: httpx.Client, url: str) -> str | None:
    """None when the URL answers 200; else why not, as its problem detail says."""
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        return f"no answer ({type(exc).__name__})"
    if response.status_code == 200:
        return None
    try:
        return str(response.json().get("detail") or response.status_code)
    except ValueError:
        return f"HTTP {response.status_code}"
