"""The CFPB sample replayed through the API: mapping, idempotent reruns, and the insights it yields."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import httpx
import pytest

from complaints_devstack.service_testing import running_service
from complaints_intake.importer import complaint_from, import_cfpb, read_rows, transitions_for
from complaints_intake.main import SERVICE

from .conftest import intake_settings

SAMPLE = Path(__file__).resolve().parents[4] / "shared" / "data" / "cfpb-complaints-sample.csv"
needs_sample = pytest.mark.skipif(not SAMPLE.exists(), reason="the CFPB sample is not on this machine")
# Of each (product, company response) pair of the whole sample (37 pairs over its 13 products and 5
# kinds of response), the first rows: what the replays through the API file.
PER_PAIR = 2

ROW = {
    "Date received": "2023-08-25",
    "Product": "Credit card or prepaid card",
    "Sub-product": "General-purpose credit card or charge card",
    "Issue": "Problem with a purchase shown on your statement",
    "Sub-issue": "Credit card company isn't resolving a dispute about a purchase on your statement",
    "Consumer complaint narrative": "",
    "Tags": "Older American, Servicemember",
    "Submitted via": "Phone",
    "Company response to consumer": "Closed with monetary relief",
    "Timely response?": "No",
    "Complaint ID": "7523056",
}


def test_a_cfpb_row_maps_to_a_complaint() -> None:
    body = complaint_from(ROW)
    assert body["category"] == "Credit card or prepaid card"
    assert body["product"] == "General-purpose credit card or charge card"
    assert body["channel"] == "phone"
    assert body["description"].startswith("Problem with a purchase shown on your statement - ")
    assert body["crm_reference"] == "CFPB-7523056"
    assert body["occurred_at"] == "2023-08-25T00:00:00Z"
    assert body["tags"] == [
        "cfpb",
        "older-american",
        "servicemember",
        "problem-with-a-purchase-shown-on-your-st",
        "untimely",
    ]
    assert [s["action"] for s in transitions_for(ROW)] == ["acknowledge", "final_response", "close"]
    final = transitions_for(ROW)[1]
    assert (final["root_cause"], final["outcome"]) == ("process", "upheld")
    in_progress = {**ROW, "Company response to consumer": "In progress"}
    assert [s["action"] for s in transitions_for(in_progress)] == ["acknowledge", "start"]


@needs_sample
def test_every_row_of_the_sample_is_a_valid_complaint() -> None:
    from complaints_intake.api.models import FileComplaint, Transition

    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2066
    for row in rows:
        FileComplaint.model_validate(complaint_from(row))
        for step in transitions_for(row):
            Transition.model_validate(step)


@needs_sample
@pytest.mark.integration
async def test_the_sample_imports_through_the_api(
    database_url: str, kafka_bootstrap: str, topics: str, tmp_path: Path
) -> None:
    sample = tmp_path / "every-pair.csv"
    rows = sample_of_every_pair(sample)
    settings = intake_settings(database_url, kafka_bootstrap, topics, rate_limit="100000/second")
    async with running_service(SERVICE, settings) as (_, client):
        await import_and_check(client, sample, rows)


async def import_and_check(client: httpx.AsyncClient, sample: Path, rows: int) -> None:
    report = await import_cfpb(client, sample, concurrency=4)
    assert (report.rows, report.filed, sum(report.failed.values())) == (rows, rows, 0)
    again = await import_cfpb(client, sample, concurrency=4)
    assert (again.filed, again.replayed) == (0, rows)

    insights = (await client.get("/v1/insights")).json()
    assert insights["total"] == rows
    assert sum(b["count"] for b in insights["by_category"]) == rows
    causes = {b["key"] for b in insights["by_root_cause"]}
    assert causes <= {"process", "customer_expectation", None}
    assert insights["time_to_acknowledge"]["count"] == rows
    assert insights["time_to_resolve"]["median_seconds"] is not None


def sample_of_every_pair(path: Path) -> int:
    """Writes to `path` the first PER_PAIR rows of the sample of each (product, company response)
    pair, in the sample's order and with its columns; the number of rows written."""
    taken: Counter[tuple[str, str]] = Counter()
    chosen = []
    for row in read_rows(SAMPLE):
        pair = (row["Product"].strip(), row["Company response to consumer"].strip())
        if taken[pair] < PER_PAIR:
            taken[pair] += 1
            chosen.append(row)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(chosen[0]))
        writer.writeheader()
        writer.writerows(chosen)
    return len(chosen)
