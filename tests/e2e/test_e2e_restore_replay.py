"""A restore pays nobody twice: compensation's schema is restored from a dump taken before a batch,
the batch's inputs are sent again (intake's `republish`), and compensation decides again. The events it
re-emits carry the ids it emitted the first time (derived from their causes, complaints_common.events
.ids), so the downstream inboxes drop them: no second voucher message, no second follow-up."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from complaints_common.events.topics import COMPENSATION_GRANTED
from complaints_devstack.postgres import bin_dir

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "docs/examples/complaint.json").read_text())
BATCH = 3


async def test_restoring_compensation_and_replaying_the_batch_pays_nobody_twice(
    platform: Any, wait_for: Any, tmp_path: Path
) -> None:
    libpq_url = platform.database_url.replace("postgresql+asyncpg://", "postgresql://")
    dump = tmp_path / "compensation.dump"
    _run(bin_dir() / "pg_dump", "--format=custom", "--schema=compensation", f"--file={dump}", libpq_url)
    before_batch = datetime.now(UTC).isoformat()

    ids = [await _file(platform, n) for n in range(BATCH)]
    assert await wait_for(lambda: _told(platform, ids), timeout=60), "the batch was not compensated and told"
    first = await _granted_ids(platform, ids, expected=1)

    platform.kill("compensation")
    await platform.sql("DROP SCHEMA compensation CASCADE")
    _run(bin_dir() / "pg_restore", "--no-owner", f"--dbname={libpq_url}", str(dump))
    assert (
        await platform.sql("SELECT 1 FROM compensation.decisions WHERE complaint_id = ANY($1::uuid[])", ids)
        == []
    )
    platform.start("compensation")
    await platform.wait_ready("compensation")
    intake = platform.specs["intake"].migrate[0]
    _run(intake, "republish", "--since", before_batch, env=platform.env("intake"))

    # Decided again, and compensation.granted sent again, with the ids of the first time.
    assert await wait_for(lambda: _decided(platform, ids), timeout=60), "the replay was not decided"
    again = await _granted_ids(platform, ids, expected=2)
    assert again == {complaint: first[complaint] * 2 for complaint in ids}
    await _consumed_everything(platform, "notifications")
    await _consumed_everything(platform, "followup")

    rows = await platform.sql(
        "SELECT kind, complaint_id::text AS id, count(*) AS n FROM notifications.messages "
        "WHERE complaint_id = ANY($1::uuid[]) GROUP BY kind, complaint_id",
        ids,
    )
    counts = {(r["kind"], r["id"]): r["n"] for r in rows}
    for complaint in ids:
        assert counts.get(("acknowledgement", complaint)) == 1, counts
        assert counts.get(("compensation", complaint)) == 1, counts
    followups = await platform.sql(
        "SELECT complaint_id::text AS id, count(*) AS n FROM followup.followups "
        "WHERE complaint_id = ANY($1::uuid[]) AND kind = 'satisfaction_check' GROUP BY complaint_id",
        ids,
    )
    assert sorted((r["id"], r["n"]) for r in followups) == sorted((c, 1) for c in ids)


def _run(*argv: Any, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(a) for a in argv], check=True, capture_output=True, timeout=120, env=env)


async def _file(platform: Any, n: int) -> str:
    customer = {**EXAMPLE["customer"], "customer_id": f"RESTORE-{n}", "email": f"restore{n}@example.com"}
    async with platform.client("intake") as intake:
        response = await intake.post(
            "/v1/complaints", json={**EXAMPLE, "customer": customer, "crm_reference": f"RESTORE-{n}"}
        )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _decided(platform: Any, ids: list[str]) -> bool:
    rows = await platform.sql(
        "SELECT count(*) AS n FROM compensation.decisions WHERE complaint_id = ANY($1::uuid[]) "
        "AND status = 'granted'",
        ids,
    )
    return bool(rows[0]["n"] == len(ids))


async def _told(platform: Any, ids: list[str]) -> bool:
    rows = await platform.sql(
        "SELECT count(*) AS n FROM notifications.messages WHERE complaint_id = ANY($1::uuid[]) "
        "AND kind = 'compensation' AND status = 'sent'",
        ids,
    )
    return await _decided(platform, ids) and bool(rows[0]["n"] == len(ids))


async def _granted_ids(platform: Any, ids: list[str], expected: int) -> dict[str, list[str]]:
    """Each complaint's compensation.granted records (their ce_id), once `expected` of each arrived."""
    topic = platform.prefix + COMPENSATION_GRANTED.name
    reader = AIOKafkaConsumer(bootstrap_servers=platform.bootstrap, request_timeout_ms=5000)
    await reader.start()
    try:
        reader.assign([TopicPartition(topic, p) for p in range(COMPENSATION_GRANTED.partitions)])
        for _ in range(120):
            await reader.seek_to_beginning()
            seen: dict[str, list[str]] = {c: [] for c in ids}
            while batch := await reader.getmany(timeout_ms=500):
                for records in batch.values():
                    for record in records:
                        key = (record.key or b"").decode()
                        if key in seen:
                            seen[key].append(dict(record.headers)["ce_id"].decode())
            if all(len(found) >= expected for found in seen.values()):
                return seen
            await asyncio.sleep(0.5)
    finally:
        await reader.stop()
    raise AssertionError(f"not {expected} compensation.granted per complaint: {seen}")


async def _consumed_everything(platform: Any, group: str) -> None:
    """Wait until `group` has committed past every compensation.granted record."""
    topic = platform.prefix + COMPENSATION_GRANTED.name
    reader = AIOKafkaConsumer(
        bootstrap_servers=platform.bootstrap, group_id=platform.prefix + group, request_timeout_ms=5000
    )
    await reader.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(COMPENSATION_GRANTED.partitions)]
        ends = await reader.end_offsets(partitions)
        for _ in range(120):
            committed = {tp: await reader.committed(tp) or 0 for tp in partitions}
            if all(committed[tp] >= ends[tp] for tp in partitions):
                return
            await asyncio.sleep(0.5)
    finally:
        await reader.stop()
    raise AssertionError(f"{group} did not consume the replayed compensation.granted")
