"""Ready means ready: a complaint filed the moment every service answers /readyz goes as fast as later
ones, because a worker is ready only once its consumers hold their partitions."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from complaints_common.events.topics import COMPENSATION_GRANTED

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "docs/examples/complaint.json").read_text())
# POST to compensation.granted (the record's create time): the same bound for the first complaint
# and the later ones. Measured here: first 464 ms, later 206-425 ms on a quiet machine; under
# `make test` beside three other suites (load average 20 on 2 cores) first 1.7-1.8 s, later
# 0.3-2.6 s. With the worker's readiness check switched off the first took 968 ms against later
# ones of 99-283 ms; issue 19 measured about 4 s after `make run`.
BOUND_S = 3.0
LATER = 5


async def test_the_first_complaint_after_ready_is_granted_within_the_same_bound_as_later_ones(
    platform: Any, kafka_bootstrap: str
) -> None:
    # No consumer group: partitions assigned by hand, so observing costs no rebalance of its own.
    observer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=5000)
    await observer.start()
    topic = platform.prefix + COMPENSATION_GRANTED.name
    observer.assign([TopicPartition(topic, p) for p in range(COMPENSATION_GRANTED.partitions)])
    await observer.seek_to_beginning()
    latencies: list[float] = []
    try:
        async with platform.client("intake") as intake:
            for n in range(1 + LATER):
                body = {
                    **EXAMPLE,
                    # One contact per customer: a contact shared by many customers is held as abuse.
                    "customer": {
                        **EXAMPLE["customer"],
                        "customer_id": f"CUST-READY-{n}",
                        "email": f"customer-ready-{n}@example.com",
                    },
                    "crm_reference": f"CASE-READY-{n}",
                }
                posted_at = time.time()
                response = await intake.post("/v1/complaints", json=body)
                assert response.status_code == 201, response.text
                latencies.append(await _granted_after(observer, response.json()["id"], posted_at))
    finally:
        await observer.stop()
    first, later = latencies[0], latencies[1:]
    print(
        f"POST -> compensation.granted: first {first * 1000:.0f} ms, "
        f"later {[round(x * 1000) for x in later]} ms"
    )
    assert first <= BOUND_S, f"the first complaint took {first:.2f} s (bound {BOUND_S} s)"
    assert max(later) <= BOUND_S, f"a later complaint took {max(later):.2f} s (bound {BOUND_S} s)"


async def _granted_after(observer: AIOKafkaConsumer, complaint_id: str, posted_at: float) -> float:
    """Seconds from the POST to the create time of the complaint's compensation.granted record."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for records in (await observer.getmany(timeout_ms=200)).values():
            for record in records:
                if record.key == complaint_id.encode():
                    return record.timestamp / 1000 - posted_at
    raise AssertionError(f"{complaint_id} was not granted within 30 s")
