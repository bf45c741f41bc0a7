"""The complaints return: the rules on worked records, and the CFPB sample replayed through the API
matching counts computed independently from the CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from complaints_devstack.service_testing import running_service
from complaints_intake.domain.returns import Goodwill, ReturnRecord, complaints_return
from complaints_intake.importer import import_cfpb, read_rows
from complaints_intake.main import SERVICE

from .conftest import intake_settings
from .test_intake_cfpb import needs_sample, sample_of_every_pair

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# The sample's first rows of each (product, company response) pair (sample_of_every_pair): every
# group of the return, with more than one complaint where the sample has them. The whole sample took
# 79 s (its first 700 rows 31 s, with 30 of the 37 pairs) of a suite kept under 15 minutes, and the
# counts are checked the same way on any number of rows.
DAY = timedelta(days=1)


def record(filed: int, closed: int | None, **changes: Any) -> ReturnRecord:
    values: dict[str, Any] = {
        "product_group": "current accounts",
        "root_cause": "process",
        "filed_at": T0 + filed * DAY,
        "closed_at": T0 + closed * DAY if closed is not None else None,
        "open_at_end": closed is None,
        "three_days_until": T0 + (filed + 3) * DAY,
        "statutory_until": T0 + (filed + 56) * DAY,
    }
    return ReturnRecord(**(values | changes))


def test_the_return_counts_a_period_as_its_history_stood() -> None:
    records = [
        record(1, 2, outcome="upheld", redress=("GBP", Decimal("40.00"))),
        record(2, 20, outcome="partly_upheld"),
        # Closed late, after the period: at its end the complaint was still open.
        record(3, 70, outcome="rejected", root_cause="customer_expectation", open_at_end=True),
        record(5, None, root_cause=None),
        record(-10, 4, outcome="rejected"),  # opened before the period, closed in it
    ]
    goodwill = [Goodwill("GBP", Decimal("10.00"), T0 + 3 * DAY), Goodwill("GBP", Decimal("5.00"), T0 - DAY)]
    january = complaints_return(records, goodwill, T0, T0 + 31 * DAY)
    totals = january.totals
    assert (totals.opened, totals.closed, totals.outstanding) == (4, 3, 2)
    assert totals.closed_within_3_business_days == 1
    assert totals.closed_within_statutory_deadline == 3
    assert (totals.upheld, totals.share(totals.upheld)) == (2, 0.6667)
    assert january.redress["GBP"].redress == Decimal("40.00") and january.redress["GBP"].goodwill == Decimal(
        "10.00"
    )
    assert list(january.groups) == [
        ("current accounts", None),
        ("current accounts", "customer_expectation"),
        ("current accounts", "process"),
    ]
    late = january.groups[("current accounts", "customer_expectation")]
    assert (late.opened, late.closed, late.outstanding) == (1, 0, 1)
    march = complaints_return(
        [record(3, 70, open_at_end=False, outcome="rejected")], [], T0 + 59 * DAY, T0 + 90 * DAY
    )
    assert (march.totals.opened, march.totals.closed, march.totals.closed_within_statutory_deadline) == (
        0,
        1,
        0,
    )
    # The same period, the same figures.
    assert complaints_return(records, goodwill, T0, T0 + 31 * DAY) == january


def expected_from_csv(path: Path) -> tuple[Counter[str], dict[tuple[str, str | None], Counter[str]]]:
    """Counts straight from the CSV: what the return must say for the sample filed today."""
    totals: Counter[str] = Counter()
    groups: dict[tuple[str, str | None], Counter[str]] = {}
    for row in read_rows(path):
        response = row["Company response to consumer"].strip()
        closed = response.startswith("Closed")
        relief = response in ("Closed with monetary relief", "Closed with non-monetary relief")
        cause = None if not closed else "process" if relief else "customer_expectation"
        key = ((row["Product"] or "unknown").strip(), cause)
        for counter in (totals, groups.setdefault(key, Counter())):
            counter["opened"] += 1
            counter["closed"] += closed
            counter["outstanding"] += not closed
            counter["upheld"] += relief
    return totals, groups


@needs_sample
@pytest.mark.integration
async def test_the_cfpb_return_of_the_replayed_sample_matches_the_csv(
    database_url: str, kafka_bootstrap: str, topics: str, tmp_path: Path
) -> None:
    sample = tmp_path / "every-pair.csv"
    filed = sample_of_every_pair(sample)
    settings = intake_settings(database_url, kafka_bootstrap, topics, rate_limit="100000/second")
    async with running_service(SERVICE, settings) as (_, client):
        assert (await client.put("/v1/deadline-profiles/selection", json={"profile": "us-cfpb"})).is_success
        start = datetime.now(UTC)
        report = await import_cfpb(client, sample, concurrency=8)
        assert (report.rows, sum(report.failed.values())) == (filed, 0), report.failed
        end = datetime.now(UTC) + timedelta(seconds=1)
        period = {"regime": "us-cfpb", "from": start.isoformat(), "to": end.isoformat()}
        answer = (await client.get("/v1/reports/complaints-return", params=period)).json()
        as_csv = await client.get(
            "/v1/reports/complaints-return", params=period, headers={"Accept": "text/csv"}
        )
        before = {**period, "from": (start - timedelta(days=30)).isoformat(), "to": start.isoformat()}
        empty = (await client.get("/v1/reports/complaints-return", params=before)).json()
        fca = (
            await client.get("/v1/reports/complaints-return", params={**period, "regime": "uk-fca"})
        ).json()

    totals, groups = expected_from_csv(sample)
    got = answer["totals"]
    assert {k: got[k] for k in ("opened", "closed", "outstanding", "upheld")} == dict(totals)
    # Every complaint was closed seconds after filing: within 3 business days and the 60-day deadline.
    assert got["closed_within_3_business_days"] == got["closed_within_statutory_deadline"] == totals["closed"]
    assert got["share_upheld"] == round(totals["upheld"] / totals["closed"], 4)
    by_group = {(g["product_group"], g["root_cause"]): g for g in answer["groups"]}
    assert set(by_group) == set(groups)
    for key, counts in groups.items():
        assert {k: by_group[key][k] for k in ("opened", "closed", "outstanding", "upheld")} == {
            k: counts[k] for k in ("opened", "closed", "outstanding", "upheld")
        }, key
    assert answer["redress"] == []  # no compensation service ran: nothing granted

    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    total_row = next(r for r in rows if r["row"] == "total")
    assert int(total_row["opened"]) == totals["opened"] and int(total_row["closed"]) == totals["closed"]
    assert sum(int(r["outstanding"]) for r in rows if r["row"] == "group") == totals["outstanding"]

    assert empty["totals"]["opened"] == 0 and empty["groups"] == []
    assert fca["totals"]["opened"] == 0
