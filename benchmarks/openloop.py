"""An open-loop load generator: complaints at a fixed arrival rate, whatever the server's speed.

Why not locust here: locust users are closed loops (a user waits for its response before the next
request), so a slow server lowers the offered load and hides the latency it causes (coordinated
omission); `constant_throughput` only caps each user's rate. An open-loop driver starts request i
at t0 + i/rate, on time, however many are still in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Sent:
    """What the generator saw of one complaint: its id, and when its POST left (wall clock)."""

    complaint_id: str
    reference: str
    sent_at: float
    answered_at: float
    recipient: str


@dataclass
class LoadResult:
    rate: float
    duration_s: float
    offered: int = 0
    accepted: list[Sent] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    max_lateness_s: float = 0.0  # how far behind schedule the generator ever started a request

    @property
    def achieved_rate(self) -> float:
        return len(self.accepted) / self.duration_s if self.duration_s else 0.0


async def offer_load(
    client: httpx.AsyncClient,
    rate: float,
    duration_s: float,
    bodies: Iterator[tuple[str, dict[str, Any]]],
) -> LoadResult:
    """POST complaints at `rate` per second for `duration_s`; wait for every answer."""
    result = LoadResult(rate=rate, duration_s=duration_s)
    total = int(rate * duration_s)
    tasks: list[asyncio.Task[None]] = []
    start = time.monotonic()
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        result.max_lateness_s = max(result.max_lateness_s, time.monotonic() - due)
        recipient, body = next(bodies)
        tasks.append(asyncio.create_task(_file(client, body, recipient, result)))
    result.offered = total
    await asyncio.gather(*tasks)
    return result


async def _file(client: httpx.AsyncClient, body: dict[str, Any], recipient: str, result: LoadResult) -> None:
    sent_at = time.time()
    try:
        response = await client.post("/v1/complaints", json=body)
    except httpx.HTTPError as exc:
        name = type(exc).__name__
        result.errors[name] = result.errors.get(name, 0) + 1
        return
    if response.status_code != 201:
        key = str(response.status_code)
        result.errors[key] = result.errors.get(key, 0) + 1
        return
    answer = response.json()
    result.accepted.append(Sent(answer["id"], answer["reference"], sent_at, time.time(), recipient))
