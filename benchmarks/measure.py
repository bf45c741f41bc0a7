"""Percentiles, the machine's description, per-process resource sampling, and Kafka/SMTP watchers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0-100) by nearest rank; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_summary_ms(seconds: list[float]) -> dict[str, float | int | None]:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "count": len(seconds),
        "p50_ms": ms(percentile(seconds, 50)),
        "p90_ms": ms(percentile(seconds, 90)),
        "p99_ms": ms(percentile(seconds, 99)),
        "max_ms": ms(max(seconds) if seconds else None),
    }


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        # The machine is shared: a high load average before the run means noisy figures.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


@dataclass
class ResourceSampler:
    """Samples CPU time and memory of named process trees once a second in a thread.

    Memory is PSS (proportional set size): PostgreSQL's backends share their buffers, and RSS would
    count the shared pages once per backend. `alone` names processes measured without children
    (the load generator, whose children are the services).
    """

    pids: Mapping[str, int]
    alone: frozenset[str] = frozenset()
    interval_s: float = 1.0
    samples: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ResourceSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            for name, pid in self.pids.items():
                sample = tree_usage(pid, children=name not in self.alone)
                if sample is not None:
                    self.samples.setdefault(name, []).append((now, *sample))
            if self._stop.wait(self.interval_s):
                return

    def summary(self) -> dict[str, dict[str, float]]:
        """Per process tree: mean CPU in % of one core over the run, peak and mean PSS in MiB."""
        result = {}
        for name, rows in self.samples.items():
            if len(rows) < 2:
                continue
            (t0, cpu0, _), (t1, cpu1, _) = rows[0], rows[-1]
            rss = [r[2] for r in rows]
            result[name] = {
                "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
                "pss_peak_mib": round(max(rss) / 2**20, 1),
                "pss_mean_mib": round(sum(rss) / len(rss) / 2**20, 1),
            }
        return result


def tree_usage(pid: int, children: bool = True) -> tuple[float, float] | None:
    """CPU seconds (user+system) and PSS bytes of a process and (optionally) its children."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)] if children else [root]
    except psutil.Error:
        return None
    cpu = rss = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            cpu += times.user + times.system
            rss += proc.memory_full_info().pss
    return cpu, rss


class TopicWatcher:
    """Reads a topic from the start in the background: message key -> record timestamp (s)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.first_seen: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            request_timeout_ms=5000,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    if record.key is None:
                        continue
                    key = record.key.decode()
                    self.count[key] = self.count.get(key, 0) + 1
                    self.first_seen.setdefault(key, record.timestamp / 1000)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._consumer.stop(), 5)


class SmtpSink:
    """An aiosmtpd server that accepts every message and notes when each recipient's first arrived."""

    def __init__(self) -> None:
        from complaints_devstack.ports import free_port

        self.port = free_port()
        self.received: dict[str, float] = {}
        self._controller: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                now = time.time()
                for rcpt in envelope.rcpt_tos:
                    sink.received.setdefault(rcpt.lower(), now)
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def notifications_env(self) -> dict[str, str]:
        """What points the notifications service's e-mail at this sink (plain SMTP on loopback)."""
        return {
            "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
            "NOTIFICATIONS_SMTP_PORT": str(self.port),
            "NOTIFICATIONS_SMTP_SECURITY": "plaintext",
        }
