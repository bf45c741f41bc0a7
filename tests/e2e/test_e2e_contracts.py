"""What every subscriber sees, checked against the published contracts and the standards' own tools.

Consuming every event topic (not the dead-letter ones) while complaints flow: each complaint's
events carry one trace id, whatever service, consumer, timer or delivery loop wrote them; every
record parses with the CloudEvents SDK and comes from a service the AsyncAPI document names as its
sender; and a journey produces every event type the document tags with its flow.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from aiokafka import ConsumerRecord
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from prometheus_client.parser import text_string_to_metric_families

from complaints_common.events.topics import TOPICS
from complaints_devstack.journey import journey_report

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "docs/examples/complaint.json").read_text())
ASYNCAPI = yaml.safe_load((ROOT / "docs/events/asyncapi.yaml").read_text())
SCHEMAS = {
    schema["x-cloudevents-type"]: schema
    for schema in (json.loads(p.read_text()) for p in (ROOT / "docs/events/schemas").glob("*.json"))
}
# The application's prefixes (shared metrics, then each domain's) and the client library's own.
METRIC_PREFIXES = (
    "complaints_",
    "intake_",
    "compensation_",
    "followup_",
    "notification_",
    "python_",
    "process_",
)
COMPLAINTS = 3
# acknowledgement, compensation and satisfaction survey: the last events of the journey.
NOTIFICATIONS_PER_JOURNEY = 3


def flow_types(flow: str) -> set[str]:
    """The event types the AsyncAPI document tags with `flow:<flow>`."""
    return {
        message["name"]
        for message in ASYNCAPI["components"]["messages"].values()
        if any(tag["name"] == f"flow:{flow}" for tag in message.get("tags", []))
    }


def senders() -> dict[str, set[str]]:
    """ce_type -> the ce_source of every service whose send operations list it."""
    messages = ASYNCAPI["components"]["messages"]
    found: dict[str, set[str]] = defaultdict(set)
    for operation_id, operation in ASYNCAPI["operations"].items():
        if operation["action"] == "send":
            service = operation_id.split("_sends_")[0]
            for ref in operation["messages"]:
                found[messages[ref["$ref"].rsplit("/", 1)[-1]]["name"]].add(f"/complaints/{service}")
    return found


def as_cloudevent(record: ConsumerRecord[bytes, bytes]) -> Any:
    headers = {key: value for key, value in record.headers if value is not None}
    return from_binary_event(KafkaMessage(headers=headers, key=record.key, value=record.value or b""))


async def test_every_topic_carries_one_trace_per_complaint_and_the_events_its_flow_promises(
    platform: Any, wait_for: Any
) -> None:
    expected = flow_types("automatic-grant")
    assert len(expected) >= 6, "the document tags the automatic-grant flow's events"
    assert "complaints.compensation.decision_recorded.v1" not in expected, "a grant is announced alone"
    consumer = platform.observer((topic.name for topic in TOPICS), "e2e-every-topic")
    await consumer.start()
    records: dict[str, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
    try:
        ids = []
        async with platform.client("intake") as intake:
            for n in range(COMPLAINTS):
                body = {
                    **EXAMPLE,
                    # One contact per customer: a contact shared by many customers is held as abuse.
                    "customer": {
                        **EXAMPLE["customer"],
                        "customer_id": f"CUST-TRACE-{n}",
                        "email": f"customer-trace-{n}@example.com",
                    },
                    "crm_reference": f"CASE-TRACE-{n}",
                }
                response = await intake.post("/v1/complaints", json=body)
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])

        def journey_done(complaint_id: str) -> bool:
            types = [dict(r.headers)["ce_type"].decode() for r in records[complaint_id]]
            statuses = types.count("complaints.notification.status.v1")
            return expected <= set(types) and statuses >= NOTIFICATIONS_PER_JOURNEY

        deadline = time.monotonic() + 45
        while not all(journey_done(i) for i in ids) and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for record in batch:
                    records[(record.key or b"").decode()].append(record)
    finally:
        await consumer.stop()

    sent_by = senders()
    for complaint_id in ids:
        seen = records[complaint_id]
        types = {dict(r.headers)["ce_type"].decode() for r in seen}
        assert expected <= types, f"{complaint_id} never produced {sorted(expected - types)}"
        decisions = [
            t
            for r in seen
            if (t := dict(r.headers)["ce_type"].decode()).startswith("complaints.compensation.")
        ]
        assert decisions == ["complaints.compensation.granted.v1"], f"{complaint_id}: the grant, once, alone"
        traces = {dict(r.headers)["traceparent"].decode().split("-")[1] for r in seen}
        assert len(traces) == 1, f"{complaint_id}: {len(seen)} events in {len(traces)} traces"
        for record in seen:
            event = as_cloudevent(record)  # the SDK's own validation of the binary-mode record
            assert event.get_specversion() == "1.0"
            assert event.get_subject() == complaint_id
            assert event.get_source() in sent_by[event.get_type()], (event.get_type(), event.get_source())
            jsonschema.validate(event.get_data(), SCHEMAS[event.get_type()])

    # `make journey`: one tree, from the CRM's request to the last delivery, in every service.
    async def whole_tree() -> str | None:
        report = journey_report(platform.workdir, ids[0])
        return report if "notification deliver" in report and "across compensation" in report else None

    report = await wait_for(whole_tree, timeout=15)
    assert report, "the journey view misses the deliveries"
    assert "across compensation, followup, intake, notifications" in report


async def test_metrics_parse_and_follow_the_prometheus_naming_conventions(platform: Any) -> None:
    """promtool is not in any package registry these machines reach: the client library's own parser
    reads the exposition, and its naming rules are checked here."""
    async with httpx.AsyncClient() as client, platform.client("intake") as intake:
        await intake.get("/openapi.json")  # a framework route: labelled by its path, not "unmatched"
        await intake.get("/no/such/path")
        texts = {s: (await client.get(platform.url(s) + "/metrics")).text for s in platform.specs}
    routes: set[str] = set()
    for service, text in texts.items():
        families = list(text_string_to_metric_families(text))
        assert families, service
        for family in families:
            where = f"{service}: {family.name}"
            assert family.name.startswith(METRIC_PREFIXES), f"{where} has no application prefix"
            assert family.documentation, f"{where} has no HELP"
            names = {sample.name for sample in family.samples}
            assert not any(name.endswith("_created") for name in names), f"{where} exposes _created"
            if family.type == "counter":
                assert names <= {family.name + "_total"}, where
            if family.type in ("gauge", "histogram"):
                assert not family.name.endswith("_total"), f"{where}: _total is for counters"
            if family.type == "histogram":
                assert family.name.endswith(("_seconds", "_bytes")), f"{where}: a histogram in base units"
            if family.name == "complaints_http_request_duration_seconds" and service == "intake":
                routes |= {sample.labels["route"] for sample in family.samples}
    assert "/openapi.json" in routes and "unmatched" in routes
