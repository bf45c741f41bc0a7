"""Locust user for the fixed-concurrency throughput run: POST a complaint, no think time.

Run headless by benchmarks/__main__.py against intake and against the baseline in turn. Every
POST carries a unique crm_reference and a unique customer (intake refuses a repeated reference).
"""

from __future__ import annotations

import os

from locust import FastHttpUser, constant, task

from benchmarks.complaints import bodies

_BODIES = bodies()
_HEADERS = {"X-API-Key": os.environ.get("BENCH_API_KEY", ""), "Content-Type": "application/json"}


class Crm(FastHttpUser):
    """A CRM filing complaints as fast as the server answers."""

    wait_time = constant(0)  # no think time: a closed loop at the given concurrency

    @task
    def file_complaint(self) -> None:
        _, body = next(_BODIES)
        with self.client.post("/v1/complaints", json=body, headers=_HEADERS, catch_response=True) as r:
            if r.status_code != 201:
                r.failure(f"status {r.status_code}")
