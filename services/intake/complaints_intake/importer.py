"""Replays the CFPB public complaint sample through intake's REST API: a demo and a load source.

    complaints-intake import-cfpb ../shared/data/cfpb-complaints-sample.csv \\
        --url http://127.0.0.1:8081 --key "$INTAKE_KEY"

Mapping (CFPB column -> intake):
  Product -> category; Sub-product -> product; Submitted via -> channel (Web/Referral -> web,
  Phone -> phone, Postal mail/Fax -> post, Email -> email); narrative -> description (else the
  issue and sub-issue); Issue, CFPB tags and "untimely" -> tags; Date received -> occurred_at;
  Complaint ID -> crm_reference "CFPB-<id>" and the Idempotency-Key, so a rerun files nothing twice.
  Company response: "In progress" -> acknowledge + start; "Closed with (non-)monetary relief" ->
  a final response, upheld, with root cause `process` (the company changed something), closed;
  "Closed with explanation" / "without relief" -> a final response, rejected, with root cause
  `customer_expectation`, closed.
The sample names no consumer, so each complaint has its own pseudonymous customer id.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

CHANNELS = {
    "web": "web",
    "referral": "web",
    "phone": "phone",
    "postal mail": "post",
    "fax": "post",
    "email": "email",
}
RELIEF = ("Closed with monetary relief", "Closed with non-monetary relief")
EXPLAINED = ("Closed with explanation", "Closed without relief", "Closed")


def slug(value: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:limit].rstrip("-")


def complaint_from(row: dict[str, str]) -> dict[str, Any]:
    """One CFPB row as the body of POST /v1/complaints."""
    issue = row.get("Issue", "").strip()
    sub_issue = row.get("Sub-issue", "").strip()
    narrative = row.get("Consumer complaint narrative", "").strip()
    description = narrative or " - ".join(p for p in (issue, sub_issue) if p) or "No narrative."
    tags = ["cfpb", *(slug(t) for t in row.get("Tags", "").split(",") if t.strip())]
    if issue:
        tags.append(slug(issue))
    if row.get("Timely response?", "").strip().lower() == "no":
        tags.append("untimely")
    received = row.get("Date received", "").strip()
    return {
        "customer": {"customer_id": f"cfpb-consumer-{row['Complaint ID']}", "preferred_channel": "none"},
        "channel": CHANNELS.get(row.get("Submitted via", "").strip().lower(), "web"),
        "category": (row.get("Product") or "unknown").strip()[:100],
        "product": (row.get("Sub-product") or "").strip()[:200] or None,
        "severity": "medium",
        "description": description[:10_000],
        "occurred_at": f"{received}T00:00:00Z" if received else None,
        "crm_reference": f"CFPB-{row['Complaint ID']}",
        "tags": list(dict.fromkeys(t for t in tags if t))[:20],
    }


def transitions_for(row: dict[str, str]) -> list[dict[str, Any]]:
    """The lifecycle steps the company's response implies."""
    response = row.get("Company response to consumer", "").strip()
    steps: list[dict[str, Any]] = [{"action": "acknowledge"}]
    if response == "In progress" or not response:
        return [*steps, {"action": "start"}]
    relief = response in RELIEF
    reason = slug(response, 100).replace("-", "_")
    final = {
        "action": "final_response",
        "reason": reason,
        "root_cause": "process" if relief else "customer_expectation",
        "outcome": "upheld" if relief else "rejected",
    }
    return [
        *steps,
        final,
        {"action": "close"},
    ]


@dataclass
class ImportReport:
    rows: int = 0
    filed: int = 0
    replayed: int = 0
    failed: Counter[int] = field(default_factory=Counter)
    transitions: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def summary(self) -> str:
        lat = sorted(self.latencies) or [0.0]
        return (
            f"{self.rows} rows: {self.filed} filed, {self.replayed} already there, "
            f"{sum(self.failed.values())} failed {dict(self.failed)}; {self.transitions} transitions; "
            f"{self.seconds:.1f} s ({self.rows / self.seconds if self.seconds else 0:.0f} complaints/s); "
            f"POST p50 {lat[len(lat) // 2] * 1000:.1f} ms, p90 {lat[int(len(lat) * 0.9)] * 1000:.1f} ms"
        )


def read_rows(path: Path, limit: int | None = None) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        for n, row in enumerate(csv.DictReader(handle)):
            if limit is not None and n >= limit:
                return
            yield row


MAX_RETRIES = 20


RETRY_LATER = (429, 503)  # over the rate limit; a dependency restarting


async def post(client: httpx.AsyncClient, url: str, body: dict[str, Any], key: str) -> httpx.Response:
    """POST, waiting out a 429 or 503 as its Retry-After says (the key makes the retry safe)."""
    for _ in range(MAX_RETRIES):
        response = await client.post(url, json=body, headers={"Idempotency-Key": key})
        if response.status_code not in RETRY_LATER:
            return response
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
    return response


async def import_row(client: httpx.AsyncClient, row: dict[str, str], report: ImportReport) -> None:
    started = time.perf_counter()
    key = f"cfpb-{row['Complaint ID']}"
    response = await post(client, "/v1/complaints", complaint_from(row), key)
    report.latencies.append(time.perf_counter() - started)
    if response.status_code != 201:
        report.failed[response.status_code] += 1
        return
    if response.headers.get("Idempotent-Replayed") == "true":
        report.replayed += 1
        return  # a rerun: its transitions were made the first time
    report.filed += 1
    url = f"/v1/complaints/{response.json()['id']}/transitions"
    for n, step in enumerate(transitions_for(row)):
        moved = await post(client, url, step, f"{key}-{n}")
        if moved.status_code == 200:
            report.transitions += 1
        else:
            report.failed[moved.status_code] += 1


async def import_cfpb(
    client: httpx.AsyncClient, path: Path, *, concurrency: int = 8, limit: int | None = None
) -> ImportReport:
    """File every row of the CSV through the API, `concurrency` at a time."""
    report = ImportReport()
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue(maxsize=concurrency * 2)
    started = time.perf_counter()

    async def worker() -> None:
        while True:
            row = await queue.get()
            try:
                await import_row(client, row, report)
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        for row in read_rows(path, limit):
            report.rows += 1
            await queue.put(row)
        await queue.join()
    finally:
        for task in workers:
            task.cancel()
    report.seconds = time.perf_counter() - started
    return report


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="complaints-intake import-cfpb", description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--url", default="http://127.0.0.1:8081")
    parser.add_argument("--key", required=True, help="an API key with the file and manage scopes")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)

    async def run() -> ImportReport:
        async with httpx.AsyncClient(
            base_url=args.url, headers={"X-API-Key": args.key}, timeout=30
        ) as client:
            return await import_cfpb(client, args.path, concurrency=args.concurrency, limit=args.limit)

    print(asyncio.run(run()).summary())
