"""The one process harness (complaints_devstack.harness) with fake services: names, logs across a
restart, kill -9, and a failed migration quoting its log."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from complaints_devstack.harness import ServiceProcesses, ServiceSpec, StackError
from complaints_devstack.ports import free_port

FAKE = str(Path(__file__).with_name("fake_service.py"))


def fake(name: str) -> ServiceSpec:
    return ServiceSpec(
        name,
        free_port(),
        serve=(sys.executable, FAKE, name, "serve"),
        migrate=(sys.executable, FAKE, name, "migrate"),
    )


def harness(tmp_path: Path, specs: dict[str, ServiceSpec], **env: str) -> ServiceProcesses:
    def environment(instance: str) -> dict[str, str]:
        spec = processes.specs[instance]
        return {**os.environ, **env, f"{spec.env_prefix}HTTP_PORT": str(spec.port)}

    processes = ServiceProcesses(specs, environment, tmp_path)
    return processes


def test_named_processes_restart_into_the_same_log_and_die_by_kill(tmp_path: Path) -> None:
    processes = harness(tmp_path, {"alpha-api": fake("alpha"), "alpha-worker": fake("alpha")})
    try:
        processes.migrate("alpha-api", timeout=30)
        for instance in processes.specs:
            processes.start(instance)
        processes.wait_ready(processes.specs, timeout=30)
        assert processes.exited() is None
        processes.kill("alpha-api")  # kill -9: no "stopped cleanly" in its log
        assert set(processes.running) == {"alpha-worker"}
        processes.start("alpha-api")
        processes.wait_ready(["alpha-api"], timeout=30)
        assert processes.stop_all(timeout=10) == ["alpha-worker", "alpha-api"]
    finally:
        processes.stop_all(timeout=5)
    log = (tmp_path / "alpha-api.log").read_text()
    assert log.count("fake alpha: listening") == 2, log  # the restart appended to its own log
    assert log.count("stopped cleanly") == 1, log
    assert "fake alpha: migrated" in (tmp_path / "alpha-migrate.log").read_text()


def test_a_failed_migration_and_a_dead_process_are_reported_with_their_logs(tmp_path: Path) -> None:
    processes = harness(
        tmp_path,
        {"beta": fake("beta")},
        FAKE_MIGRATE_EXIT="2",
        FAKE_BETA_DIE_AFTER="0.5",
        FAKE_READY_DELAY="60",
    )
    with pytest.raises(StackError, match=r"beta migrate failed \(exit 2\)(.|\n)*fake beta: migrated"):
        processes.migrate("beta", timeout=30)
    try:
        processes.start("beta")
        with pytest.raises(StackError, match=r"beta exited unexpectedly \(exit 3\)"):
            processes.wait_ready(["beta"], timeout=30)
    finally:
        processes.stop_all(timeout=5)
