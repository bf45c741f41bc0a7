"""Benchmark: how fast follow-up fires due timers, and how late, with 100,000 pending.

    python -m benchmarks.timers [--timers 100000] [--replicas 1 2] [--batch 200]

For each replica count: a scratch database on an embedded PostgreSQL (a free port, a temporary
directory), migrated; `--timers` scheduled satisfaction checks for distinct customers inserted in
bulk, their due times spread over `--spread` seconds starting a moment from now (so they fall due
while the loop runs, as in production, not all at once); then the service's own timer loop runs
(N replicas, each with its own connection pool, on the wall clock) until every timer has fired.
Reported: timers fired per second (first fire to last), and lateness (fired_at - due_at) p50, p99
and max. A backlog run (everything already due: a restart after downtime) is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from sqlalchemy import text

from complaints_common.runtime import Runtime
from complaints_devstack.service_testing import migrated_runtime
from complaints_followup.dependencies import FollowupDependencies
from complaints_followup.events.firing import timer_loop
from complaints_followup.main import SERVICE
from complaints_followup.settings import FollowupSettings
from complaints_followup.store.tables import followups

INSERT_CHUNK = 5000


@dataclass(frozen=True)
class Result:
    scenario: str
    replicas: int
    timers: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float

    def line(self) -> str:
        return (
            f"| {self.scenario} | {self.replicas} | {self.timers:,} | {self.seconds:.1f} | "
            f"{self.per_second:,.0f} | {self.p50_ms:,.0f} | {self.p99_ms:,.0f} | {self.max_ms:,.0f} |"
        )


async def load_timers(
    runtime: Runtime, count: int, first_due: datetime, spread_s: float, kind: str = "satisfaction_check"
) -> None:
    """Insert `count` scheduled timers of `kind`, due evenly over `spread_s` from `first_due`."""
    step = spread_s / max(count - 1, 1)
    for start in range(0, count, INSERT_CHUNK):
        rows = [
            {
                "id": uuid4(),
                "client_id": "crm-bench",
                "complaint_id": uuid4(),
                "customer_id": f"bench-{i}",
                "kind": kind,
                "due_at": first_due + timedelta(seconds=i * step),
                "status": "scheduled",
            }
            for i in range(start, min(start + INSERT_CHUNK, count))
        ]
        async with runtime.db.transaction() as session:
            await session.execute(followups.insert(), rows)
    async with runtime.db.engine.connect() as conn:
        await conn.execute(text("ANALYZE followup.followups"))


async def fire_all(runtimes: Sequence[Runtime], count: int) -> None:
    """Run one timer loop per replica until every timer fired."""
    stop = asyncio.Event()
    loops = [asyncio.create_task(timer_loop(FollowupDependencies.build(rt))(stop)) for rt in runtimes]
    try:
        while await _fired_count(runtimes[0]) < count:  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.25)
    finally:
        stop.set()
        await asyncio.gather(*loops)


async def _fired_count(runtime: Runtime) -> int:
    async with runtime.db.engine.connect() as conn:
        return int(
            (
                await conn.execute(text("SELECT count(*) FROM followup.followups WHERE status = 'fired'"))
            ).scalar_one()
        )


async def measure(runtime: Runtime, scenario: str, replicas: int, count: int) -> Result:
    query = text(
        """SELECT extract(epoch FROM max(fired_at) - min(fired_at)) AS seconds,
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM fired_at - due_at)) AS p50,
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM fired_at - due_at)) AS p99,
                  max(extract(epoch FROM fired_at - due_at)) AS worst,
                  (SELECT count(*) FROM followup.outbox) AS events
           FROM followup.followups WHERE status = 'fired'"""
    )
    async with runtime.db.engine.connect() as conn:
        row = (await conn.execute(query)).one()
    assert row.events == count, f"{row.events} events for {count} timers"
    seconds = float(row.seconds) or 1e-9
    return Result(
        scenario, replicas, count, seconds, count / seconds, row.p50 * 1000, row.p99 * 1000, row.worst * 1000
    )


async def run_scenario(
    server_url: str,
    name: str,
    replicas: int,
    count: int,
    batch: int,
    spread_s: float,
    backlog: bool,
    kind: str,
) -> Result:
    from complaints_devstack.testing import create_database, drop_database

    database = f"bench_{name}_{replicas}"
    await drop_database(server_url, database)
    settings = FollowupSettings(
        database_url=await create_database(server_url, database),
        timer_batch_size=batch,
        timer_poll_interval_s=0.05,
    )
    first = await migrated_runtime(SERVICE, settings)
    runtimes = [first, *(SERVICE.runtime(settings) for _ in range(replicas - 1))]
    try:
        lead = timedelta(seconds=5)  # time to load before the first timer falls due
        started = datetime.now(UTC)
        first_due = started - timedelta(seconds=spread_s) if backlog else started + lead
        await load_timers(runtimes[0], count, first_due, spread_s, kind)
        if not backlog:
            await asyncio.sleep(max(0.0, (first_due - datetime.now(UTC)).total_seconds()))
        await fire_all(runtimes, count)
        return await measure(
            runtimes[0], "backlog (all overdue)" if backlog else f"due over {spread_s:.0f} s", replicas, count
        )
    finally:
        for rt in runtimes:
            await rt.db.dispose()


async def main(args: argparse.Namespace) -> None:
    from complaints_devstack.ports import free_port
    from complaints_devstack.postgres import EmbeddedPostgres

    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    with (
        tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp,
        EmbeddedPostgres(Path(tmp) / "pgdata", free_port(), settings={"fsync": "off"}) as server,
    ):
        url = server.url("postgres")
        print(f"{args.timers:,} {args.kind} timers, batch {args.batch}, on {os.cpu_count()} cores")
        print(
            "| scenario | replicas | timers | seconds | fired/s | late p50 ms | late p99 ms | late max ms |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for replicas in args.replicas:
            for backlog in (False, True):
                name = "backlog" if backlog else "spread"
                result = await run_scenario(
                    url, name, replicas, args.timers, args.batch, args.spread, backlog, args.kind
                )
                print(result.line(), flush=True)


def cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=FollowupSettings().timer_batch_size)
    parser.add_argument(
        "--kind",
        default="satisfaction_check",
        choices=["satisfaction_check", "deadline_breach"],
        help="satisfaction checks pass the survey rules (the dearest path); deadline watches do not",
    )
    parser.add_argument("--spread", type=float, default=60.0, help="seconds over which the timers fall due")
    started = time.perf_counter()
    asyncio.run(main(parser.parse_args(argv)))
    print(f"(benchmark took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    cli()
