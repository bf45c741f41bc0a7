"""The parent-death guard the Kafka nodes run with: a parent killed with kill -9 leaves no orphan."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from complaints_devstack._process import ParentDeathGuard, pid_alive

# A parent that starts a long-running child with a guard, prints the child's pid, then waits.
PARENT = """
import subprocess, sys, time
from complaints_devstack._process import ParentDeathGuard
child = subprocess.Popen(["sleep", "300"], start_new_session=True)
guard = ParentDeathGuard(child.pid)
print(child.pid, flush=True)
time.sleep(300)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the guard needs /proc")
def test_a_child_dies_with_its_parent_even_after_kill_9() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert pid_alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child), "the child outlived its parent"


def test_a_closed_guard_leaves_a_stopped_child_and_itself_goes() -> None:
    child = subprocess.Popen(["sleep", "300"])
    guard = ParentDeathGuard(child.pid)
    child.terminate()
    child.wait(timeout=10)
    started = time.monotonic()
    guard.close()
    assert time.monotonic() - started < 5
