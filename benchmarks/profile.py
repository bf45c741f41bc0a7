"""`make profile`: where a complaint's CPU goes, measured with a profiler, not guessed.

Starts the embedded stack (as `make bench` does, notifications with a local SMTP server) and
measures, at a steady open-loop load (10 complaints/s by default, for 20 s):

- the idle CPU of every process (nothing offered for 10 s): the cost of polling alone;
- CPU milliseconds per complaint per service, with the idle cost of the same time taken off;
- database transactions and rows per complaint (pg_stat_database), and the transactions the
  idle processes commit a second, taken off as the idle CPU is; messages consumed per
  complaint per service and topic (the services' own `complaints_consumer_messages_total`);
- py-spy samples of every service during a second window of the same load (the profiler's
  own cost kept out of the figures above): the share of busy samples by package (leaf frames)
  and the project's own functions with the largest inclusive share.

Writes docs/benchmarks/profile.json and docs/benchmarks/profile.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from benchmarks import report
from benchmarks.complaints import ROOT, bodies
from benchmarks.measure import SmtpSink, machine, tree_usage
from benchmarks.openloop import offer_load
from benchmarks.stack import SERVICES, Stack, run_directory
from complaints_common.db import asyncpg_dsn

IDLE_S = 10.0
SAMPLE_RATE_HZ = 200
OWN_PACKAGES = ("complaints_",)
LOOP_FILE = "asyncio/runners.py"
# Entry frames every sample passes through: they say nothing about where the time goes.
ENTRY_FUNCTIONS = frozenset({"cli", "serve", "supervise", "<module>"})
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*):\d+\)$")
_METRIC = re.compile(r"^complaints_consumer_messages_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)


def cpu_seconds(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) of each process tree so far."""
    return {name: (tree_usage(pid) or (0.0, 0.0))[0] for name, pid in pids.items()}


def consumed(stack: Stack) -> dict[str, Counter[tuple[str, str]]]:
    """Messages each service's consumer has seen, by outcome and then by (service, topic): one
    scrape of every /metrics. "processed" is handled, "skipped" another service's event type
    passed over by its ce_type header undecoded."""
    counts: dict[str, Counter[tuple[str, str]]] = {"processed": Counter(), "skipped": Counter()}
    for service in SERVICES:
        text = httpx.get(stack.url(service) + "/metrics", timeout=5).text
        for match in _METRIC.finditer(text):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
            if labels.get("outcome") in counts:
                counts[labels["outcome"]][(service, labels["topic"])] += int(float(match["value"]))
    return counts


def settle(stack: Stack, quiet_s: float = 2.0, at_most_s: float = 60.0) -> None:
    """Wait until no consumer has handled a message for `quiet_s` (bounded): a fixed pause either
    cut a journey short or, after the warm-up, counted its tail as idle CPU."""
    deadline, last = time.monotonic() + at_most_s, consumed(stack)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = consumed(stack)
        if now == last:
            return
        last = now


def per_complaint(
    after: Counter[tuple[str, str]], before: Counter[tuple[str, str]], accepted: int
) -> list[dict[str, Any]]:
    return [
        {"service": s, "topic": t, "messages": round((n - before[(s, t)]) / accepted, 2)}
        for (s, t), n in sorted(after.items())
        if n > before[(s, t)]
    ]


async def database_totals(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await conn.fetchrow(
            "SELECT xact_commit, tup_inserted, tup_updated, tup_fetched "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await conn.close()
    assert row is not None
    return {key: int(value) for key, value in row.items()}


def hot_spots(samples_file: Path, top: int = 15) -> dict[str, Any]:
    """Busy samples of a py-spy raw (collapsed) file: leaf share by package, and the project's own
    functions by inclusive share."""
    busy = 0
    by_package: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in samples_file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [m for m in (_FRAME.match(f) for f in stack.split(";")) if m is not None]
        if not frames or frames[0]["file"] == "threading.py" or frames[-1]["file"] == LOOP_FILE:
            # Helper threads (executor pools) wait almost all the time, and a sample whose
            # innermost Python frame is the loop runner is in the event loop's native code
            # (uvloop), mostly waiting in epoll: both are left out.
            continue
        busy += count
        by_package[frames[-1]["file"].split("/")[0]] += count
        for name in {
            f"{m['function']} ({m['file']})"
            for m in frames
            if m["file"].startswith(OWN_PACKAGES) and m["function"] not in ENTRY_FUNCTIONS
        }:
            own[name] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / busy, 1)) for name, n in counter.most_common(top)] if busy else []

    return {"busy_samples": busy, "leaf_by_package": share(by_package), "own_functions": share(own)}


def record_profiles(pids: Mapping[str, int], seconds: float, out: Path) -> list[subprocess.Popen[bytes]]:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    return [
        subprocess.Popen(  # noqa: S603 - our own argv
            [
                spy,
                *("record", "--pid", str(pid), "--duration", str(int(seconds))),
                # Blocking (the default): py-spy pauses the process per sample, which is what lets
                # it tell a thread waiting in epoll (idle, left out) from one running.
                *("--rate", str(SAMPLE_RATE_HZ), "--format", "raw"),
                *("--output", str(out / f"{service}.txt")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for service, pid in pids.items()
    ]


async def offer(stack: Stack, rate: float, seconds: float) -> int:
    async with stack.intake_client() as client:
        result = await offer_load(client, rate, seconds, bodies())
    return len(result.accepted)


def measure(stack: Stack, rate: float, seconds: float, workdir: Path) -> dict[str, Any]:
    assert stack.postgres is not None
    services = dict(stack.pids())
    pids = {**services, "postgresql": stack.postgres.pid or 0, **stack.broker_pids()}
    asyncio.run(offer(stack, 5, 3))  # warm-up: group joins, caches, prepared statements
    settle(stack)  # the idle window starts once the warm-up's journeys are over

    before, db_idle = cpu_seconds(pids), asyncio.run(database_totals(stack.database_url))
    time.sleep(IDLE_S)
    idle = {n: (s - before[n]) / IDLE_S for n, s in cpu_seconds(pids).items()}
    # What waiting alone commits (the loops' polls), as the CPU's idle share is taken off below.
    idle_xacts_per_s = (
        asyncio.run(database_totals(stack.database_url))["xact_commit"] - db_idle["xact_commit"]
    ) / IDLE_S

    # The figures come from a window without the profiler (py-spy pauses the process for each
    # sample, which costs CPU); the hot spots from a second window of the same load.
    seen_before, db_before = consumed(stack), asyncio.run(database_totals(stack.database_url))
    cpu_before, started = cpu_seconds(pids), time.monotonic()
    accepted = asyncio.run(offer(stack, rate, seconds))
    settle(stack)  # the last complaints finish their journey
    elapsed = time.monotonic() - started
    cpu = {n: s - cpu_before[n] for n, s in cpu_seconds(pids).items()}
    seen_after, db = consumed(stack), asyncio.run(database_totals(stack.database_url))

    spies = record_profiles(services, seconds, workdir)
    asyncio.run(offer(stack, rate, seconds))
    for spy in spies:
        spy.wait(timeout=seconds + 30)

    per_complaint_ms = {
        name: round(1000 * max(0.0, cpu[name] - idle[name] * elapsed) / accepted, 1) for name in pids
    }
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "accepted": accepted,
        "idle_cpu_percent_of_one_core": {n: round(100 * v, 1) for n, v in idle.items()},
        "cpu_ms_per_complaint_above_idle": per_complaint_ms,
        "database_per_complaint": {k: round((db[k] - db_before[k]) / accepted, 1) for k in db},
        "idle_transactions_per_s": round(idle_xacts_per_s, 1),
        "transactions_per_complaint_above_idle": round(
            (db["xact_commit"] - db_before["xact_commit"] - idle_xacts_per_s * elapsed) / accepted, 1
        ),
        "consumed_per_complaint": per_complaint(seen_after["processed"], seen_before["processed"], accepted),
        "skipped_by_type_per_complaint": per_complaint(
            seen_after["skipped"], seen_before["skipped"], accepted
        ),
        "hot_spots": {service: hot_spots(workdir / f"{service}.txt") for service in services},
    }


def run(rate: float, seconds: float, workdir: Path) -> dict[str, Any]:
    stack = Stack(workdir)
    smtp = SmtpSink()
    try:
        print(f"profile: starting the embedded stack in {workdir}")
        stack.start_infra()
        for service in SERVICES:
            stack.migrate(service)
        smtp.start()
        stack.extra_env["notifications"] = smtp.notifications_env()
        stack.start_services()
        print(f"profile: idle {IDLE_S:.0f} s, then {rate}/s for {seconds:.0f} s under py-spy")
        return {"machine": machine(), **measure(stack, rate, seconds, workdir)}
    finally:
        stack.close()
        smtp.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--rate", type=float, default=10.0, help="complaints offered per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the load runs")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it (py-spy samples, logs)")
    args = parser.parse_args(argv)
    with run_directory(args.keep, "complaints-profile-") as directory:
        results = run(args.rate, args.seconds, directory)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "profile.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "profile.md").write_text(report.profile_markdown(results))
    total = sum(results["cpu_ms_per_complaint_above_idle"].values())
    print(f"profile: {total:.1f} ms of CPU per complaint in all; wrote {args.out}/profile.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
