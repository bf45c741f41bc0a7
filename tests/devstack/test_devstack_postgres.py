"""The embedded PostgreSQL: start, query, stop, restart with data kept, crashes and orphans."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from complaints_common.db import asyncpg_dsn
from complaints_devstack.ports import free_port, port_in_use
from complaints_devstack.postgres import EmbeddedPostgres, EmbeddedPostgresError

pytestmark = pytest.mark.integration


@pytest.fixture
def pg(scratch_dir: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(scratch_dir / "pgdata", free_port(), settings={"fsync": "off"})
    yield server
    server.stop()


async def test_starts_answers_and_keeps_data_across_restarts(pg: EmbeddedPostgres) -> None:
    pg.start()
    pg.start()  # idempotent
    assert pg.url() == f"postgresql+asyncpg://postgres@127.0.0.1:{pg.port}/complaints"
    conn = await asyncpg.connect(asyncpg_dsn(pg.url()))
    try:
        assert await conn.fetchval("SELECT current_database()") == "complaints"
        await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')")
        assert await conn.fetchval("SELECT upper('ärger')") == "ÄRGER"  # Unicode-aware locale
    finally:
        await conn.close()

    pg.stop()
    assert not pg.is_running()
    assert not port_in_use(pg.port)

    pg.restart()
    assert pg.psql("SELECT v FROM kept", database="complaints").strip() == "before"


def test_a_killed_server_recovers_its_committed_data(pg: EmbeddedPostgres) -> None:
    pg.start()
    pg.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (42)", database="complaints")
    pg.kill()
    assert not port_in_use(pg.port)
    pg.start()
    assert pg.psql("SELECT v FROM t", database="complaints").strip() == "42"


def test_an_orphan_of_a_killed_run_is_stopped_and_replaced(scratch_dir: Path) -> None:
    data_dir, first_port, second_port = scratch_dir / "pgdata", free_port(), free_port()
    # Start a server from a process that then dies by SIGKILL, like a killed `make run`.
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from complaints_devstack.postgres import EmbeddedPostgres\n"
        "EmbeddedPostgres(Path(sys.argv[1]), int(sys.argv[2])).start()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(data_dir), str(first_port)], timeout=60)
    assert port_in_use(first_port), "the orphan should still be running"

    pg = EmbeddedPostgres(data_dir, second_port)
    try:
        pg.start()
        assert not port_in_use(first_port), "the orphan should have been stopped"
        assert pg.psql("SELECT 1").strip() == "1"
    finally:
        pg.stop()


def test_a_busy_port_gives_a_clear_error(scratch_dir: Path, pg: EmbeddedPostgres) -> None:
    pg.start()
    other = EmbeddedPostgres(scratch_dir / "other", pg.port)
    with pytest.raises(EmbeddedPostgresError, match=f"port {pg.port} .* already in use"):
        other.start()


def test_a_failed_start_shows_the_server_log(scratch_dir: Path) -> None:
    bad = EmbeddedPostgres(scratch_dir / "bad", free_port(), settings={"shared_buffers": "lots"})
    with pytest.raises(EmbeddedPostgresError, match="exited during start-up") as info:
        bad.start()
    assert "shared_buffers" in str(info.value)  # the log tail names the bad setting
    assert not bad.is_running()


def test_a_half_initialised_data_dir_is_refused(scratch_dir: Path) -> None:
    data_dir = scratch_dir / "half"
    data_dir.mkdir()
    (data_dir / "stray").write_text("x")
    with pytest.raises(EmbeddedPostgresError, match="no PG_VERSION"):
        EmbeddedPostgres(data_dir, free_port()).start()
