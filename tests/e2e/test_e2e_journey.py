"""One complaint's whole journey through the four services, on real PostgreSQL and Kafka."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from complaints_devstack.journey import journey_report

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.every_broker]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "docs/examples/complaint.json").read_text())
# Each committed schema carries the CloudEvents type it describes.
SCHEMAS = {
    schema["x-cloudevents-type"]: schema
    for schema in (json.loads(p.read_text()) for p in (ROOT / "docs/events/schemas").glob("*.json"))
}


async def _collect(
    consumer: AIOKafkaConsumer, complaint_id: str, wanted: set[str], timeout: float
) -> dict[str, Any]:
    """Read the topics until each wanted event type has been seen for this complaint."""
    seen: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while wanted - seen.keys() and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=200)
        for records in batch.values():
            for record in records:
                headers = {k: v.decode() for k, v in record.headers}
                if record.key == complaint_id.encode() and headers["ce_type"] in wanted:
                    seen.setdefault(headers["ce_type"], (record, headers, time.monotonic()))
    return seen


async def scrape(platform: Any) -> dict[str, float]:
    """Every service's /metrics, summed per metric name and label set: `name{k=v,...}` -> value."""
    values: dict[str, float] = {}
    async with httpx.AsyncClient() as client:
        for service in ("intake", "compensation", "followup", "notifications"):
            text = (await client.get(platform.url(service) + "/metrics")).text
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    key = f"{service}:{sample.name}{{{labels}}}"
                    values[key] = values.get(key, 0.0) + sample.value
    return values


def total(values: dict[str, float], service: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    wanted = [f"{k}={v}" for k, v in labels.items()]
    prefix = f"{service}:{name}{{"
    return sum(
        v for k, v in values.items() if k.startswith(prefix) and all(w in k[len(prefix) :] for w in wanted)
    )


async def test_a_complaint_travels_the_whole_way_in_one_trace(
    platform: Any, kafka_bootstrap: str, wait_for: Any
) -> None:
    consumer = platform.observer(
        ("complaint.created", "compensation.granted", "followup.due"), "e2e-observer"
    )
    await consumer.start()
    before = await scrape(platform)
    try:
        async with platform.client("intake") as intake:
            posted_at = time.monotonic()
            response = await intake.post("/v1/complaints", json=EXAMPLE)
            assert response.status_code == 201, response.text
            complaint_id = response.json()["id"]
            assert response.headers["location"] == f"/v1/complaints/{complaint_id}"
            read_back = (await intake.get(f"/v1/complaints/{complaint_id}")).json()
            assert read_back["reference"] == response.json()["reference"]

        wanted = {
            "complaints.complaint.created.v1",
            "complaints.compensation.granted.v1",
            "complaints.followup.due.v1",
        }
        seen = await _collect(consumer, complaint_id, wanted, timeout=30)
        assert seen.keys() == wanted
    finally:
        await consumer.stop()

    for ce_type, (record, headers, _) in seen.items():
        assert headers["ce_specversion"] == "1.0"
        assert headers["ce_subject"] == complaint_id
        assert headers["ce_type"] == ce_type
        assert headers["content-type"] == "application/json"
        assert headers["ce_id"] and headers["ce_source"].startswith("/complaints/") and headers["ce_time"]
        assert headers["traceparent"].startswith("00-")
        jsonschema.validate(json.loads(record.value), SCHEMAS[ce_type])

    granted = json.loads(seen["complaints.compensation.granted.v1"][0].value)
    assert granted["voucher_code"] and granted["offer"]["value"]["currency"] == "EUR"
    print(
        f"POST -> compensation.granted observed after "
        f"{(seen['complaints.compensation.granted.v1'][2] - posted_at) * 1000:.0f} ms"
    )

    async def all_messages_sent() -> list[dict[str, Any]] | None:
        async with platform.client("notifications") as notifications:
            response = await notifications.get(f"/v1/complaints/{complaint_id}/messages")
        messages = response.json() if response.status_code == 200 else []  # 404: nothing recorded yet
        kinds = {m["kind"] for m in messages if m["status"] == "sent"}
        return messages if kinds == {"acknowledgement", "compensation", "satisfaction_survey"} else None

    messages = await wait_for(all_messages_sent)
    assert messages, "the customer was not told every step"
    assert len(messages) == 3
    compensation_message = next(m for m in messages if m["kind"] == "compensation")
    assert granted["voucher_code"] in compensation_message["body"]
    acknowledgement = next(m for m in messages if m["kind"] == "acknowledgement")
    assert acknowledgement["recipient"] == EXAMPLE["customer"]["email"]
    assert "Thank you" in acknowledgement["body"] and "sorry" in acknowledgement["body"]

    trace_id = seen["complaints.complaint.created.v1"][1]["traceparent"].split("-")[1]

    required = {
        "POST /v1/complaints",
        "complaint.created process",
        "compensation.granted process",
        "followup.due fire",
        "followup.due process",
    }

    async def journey() -> list[dict[str, Any]] | None:
        spans = [s for s in platform.spans() if s["trace_id"] == trace_id]
        names = {s["name"].removeprefix(platform.prefix) for s in spans}
        return spans if required <= names else None

    spans = await wait_for(journey, timeout=15)
    assert spans, "the journey's spans do not share one trace"
    assert {s["service"] for s in spans} == {"intake", "compensation", "followup", "notifications"}

    # The on-call view of the same journey: one tree, every service, from the local spans files.
    report = journey_report(platform.workdir, complaint_id)
    assert "across compensation, followup, intake, notifications" in report
    lines = report.splitlines()[1:]
    assert lines[0].split()[-2:] == ["POST", "/v1/complaints"]
    assert any("followup.due fire" in line for line in lines)
    assert not any(line.split()[-1] in ("BEGIN;", "COMMIT;") for line in lines)

    # The operators' view: the metrics moved while the complaint flowed.
    after = await scrape(platform)
    p = platform.prefix

    def moved(service: str, name: str, **labels: str) -> float:
        return total(after, service, name, **labels) - total(before, service, name, **labels)

    assert (
        moved(
            "intake", "complaints_http_request_duration_seconds_count", route="/v1/complaints", status="201"
        )
        == 1
    )
    assert moved("intake", "complaints_outbox_published_total", topic="complaint.created") == 1
    assert (
        moved(
            "compensation",
            "complaints_consumer_messages_total",
            topic=p + "complaint.created",
            outcome="processed",
        )
        == 1
    )
    assert (
        moved(
            "compensation",
            "complaints_consumer_handler_duration_seconds_count",
            topic=p + "complaint.created",
        )
        == 1
    )
    assert moved("compensation", "compensation_decisions_total", status="granted") == 1
    assert moved("compensation", "compensation_granted_value_total", currency="EUR") > 0
    assert moved("followup", "followup_timers_fired_total", kind="satisfaction_check") == 1
    assert moved("notifications", "notification_deliveries_total", outcome="sent") >= 3
    assert total(after, "intake", "complaints_outbox_backlog_messages") == 0
    assert any(k.startswith("compensation:complaints_consumer_lag_messages{") for k in after)
    assert any(k.startswith("followup:followup_timers_overdue{") for k in after)
