"""Small helpers for the child processes the dev stack starts: logs, liveness, and stopping."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self


def log_tail(path: Path | None, lines: int = 40) -> str:
    """The last lines of a log file, for error messages; never raises."""
    if path is None:
        return "(no log file)"
    try:
        with path.open("rb") as fh:
            # Read only the end: server logs of a long session can be large.
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"({path} is empty)"


def pid_alive(pid: int) -> bool:
    """True when pid names a live process (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists but belongs to someone else
    # In a container PID 1 may never reap orphans, so a dead one can linger as a zombie.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def process_cmdline(pid: int) -> list[str] | None:
    """The command line of a process, or None when it is gone or cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None  # Linux: the process is gone
    except OSError:
        return None
    # No /proc (macOS): ask ps; arguments with spaces get merged, which is enough for matching.
    ps = shutil.which("ps")
    if ps is None:
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [ps, "-o", "args=", "-p", str(pid)], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.split() if out.returncode == 0 and out.stdout.strip() else None


def wait_pid_gone(pid: int, timeout: float) -> bool:
    """Poll until a process that is not our child is gone; True if it went in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal a child's whole process group (our children lead their own), ignoring the gone."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop_child(
    proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0
) -> int:
    """Ask a child to stop with sig, SIGKILL its process group after timeout; returns its exit code."""
    if proc.poll() is not None:
        return proc.returncode  # reaped: its pid may already belong to someone else
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    return wait_or_kill(proc, timeout)


def wait_or_kill(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """Wait for a child that was asked to stop; SIGKILL its process group after timeout.

    Never signals twice: uvicorn, for one, treats a second SIGTERM as "exit now, skip cleanup".
    """
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        # Kill the group too, so helpers it spawned (e.g. PostgreSQL backends) do not linger.
        signal_group(proc.pid, signal.SIGKILL)
        return proc.wait()


def kill_child(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a child and its process group at once, like a crash; waits for it to be reaped."""
    if proc.poll() is None:
        signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


# The guard's own program: wait for end of file on stdin (the parent never writes, so that comes
# only when the parent's end of the pipe closes: when it exits, however it dies), then SIGKILL the
# child unless it has gone already. A pid is matched with its start time, so a reused pid is safe.
_GUARD_PROGRAM = """
import os, select, signal, sys
pid, started = int(sys.argv[1]), sys.argv[2]
def start_time():
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None
while start_time() == started:
    if select.select([0], [], [], 1.0)[0]:
        if start_time() == started:
            os.kill(pid, signal.SIGKILL)
        break
"""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class ParentDeathGuard:
    """Kills a child with SIGKILL when this process dies, even by kill -9 (no atexit runs then).

    A tiny Python process holds the read end of a pipe whose write end only this process has; the
    kernel closes that end whatever way this process ends. Where there is no /proc (macOS) it does
    nothing. `close()` after the child has been reaped lets the guard go.
    """

    def __init__(self, pid: int) -> None:
        self._write: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        started = _start_time(pid)
        if started is None:
            return
        read, self._write = os.pipe()  # not inherited by any other child (PEP 446)
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and program
                [sys.executable, "-I", "-S", "-c", _GUARD_PROGRAM, str(pid), started],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C of the terminal is the parent's to handle
            )
        finally:
            os.close(read)

    def close(self) -> None:
        if self._write is not None:
            os.close(self._write)
            self._write = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


class ChildServer:
    """A server the dev stack runs as its own child (PostgreSQL, the broker): what they share.

    A subclass defines `start()` (which sets `_proc` and `_log`, waits with `_wait_ready_until` and
    registers `_stop_at_exit`) and `_error()`; `stop_signal` is how it is asked to stop.
    """

    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    start_timeout: float
    _proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> None:
        raise NotImplementedError

    def _error(self, message: str) -> Exception:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.is_running() and self._proc else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to stop with `stop_signal`, then SIGKILL after timeout."""
        if self._proc is not None:
            stop_child(self._proc, self.stop_signal, timeout)
        self._forget()

    def kill(self) -> None:
        """SIGKILL the server and its process group at once, like a crash (for fault tests)."""
        if self._proc is not None:
            kill_child(self._proc)
        self._forget()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_ready_until(self, ready: Callable[[], bool], name: str, not_ready: str) -> None:
        """Poll `ready` until it holds; the error names the server and quotes its log otherwise."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise self._error(f"{name} exited during start-up (exit {code})")
            if ready():
                return
            time.sleep(0.05)
        raise self._error(f"{name} {not_ready} within {self.start_timeout} s")

    def _forget(self) -> None:
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        atexit.unregister(self._stop_at_exit)

    def _stop_at_exit(self) -> None:
        # A safety net for tests and scripts that forget stop(); never leave a server behind.
        self.stop(timeout=5.0)
