"""Complaint bodies for load: real CFPB complaints mapped to intake's fields, with a synthetic customer.

The CFPB sample holds no customer identities, so each body gets a fresh synthetic customer (a unique
id and e-mail address). A unique customer per complaint keeps the abuse guards (per-customer caps,
repeat detection) out of the measurement, and the e-mail address lets the SMTP sink tell which
complaint an acknowledgement belongs to.
"""

from __future__ import annotations

import csv
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CSV = ROOT.parent / "shared" / "data" / "cfpb-complaints-sample.csv"
EXAMPLE = ROOT / "docs" / "examples" / "complaint.json"

# CFPB "Submitted via" -> our channel; referrals and faxes arrive as web forms in a call centre's CRM.
CHANNELS = {
    "Web": "web",
    "Phone": "phone",
    "Email": "email",
    "Postal mail": "post",
    "Referral": "web",
    "Fax": "web",
}
RECIPIENT_DOMAIN = "bench.example.com"


def _clip(text: str, limit: int) -> str:
    return text.strip()[:limit].strip()


def from_cfpb_row(row: dict[str, str]) -> dict[str, Any]:
    """One CFPB row as the complaint fields intake accepts (without customer and reference)."""
    issue = _clip(row.get("Issue") or "other", 100) or "other"
    narrative = _clip(row.get("Consumer complaint narrative") or "", 10_000)
    return {
        "channel": CHANNELS.get(row.get("Submitted via", ""), "web"),
        "category": issue,
        "product": _clip(row.get("Product") or "", 200) or None,
        "severity": "medium",
        "description": narrative or issue,
    }


def load_sample(path: Path = SAMPLE_CSV) -> list[dict[str, Any]]:
    """Every complaint of the sample, mapped; a fixed fallback when the shared data is missing."""
    if not path.exists():
        return [
            {
                "channel": "phone",
                "category": "billing",
                "product": "Fibre 500",
                "description": "Charged twice.",
            }
        ]
    with path.open(newline="", encoding="utf-8") as fh:
        return [from_cfpb_row(row) for row in csv.DictReader(fh)]


def recipient(sequence: int, run: str) -> str:
    return f"c{sequence}.{run}@{RECIPIENT_DOMAIN}"


def bodies(run: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Endless (recipient, body) pairs: the sample over and over, each with a new customer."""
    run = run or uuid.uuid4().hex[:8]
    sample = load_sample()
    for sequence, fields in enumerate(itertools.cycle(sample)):
        email = recipient(sequence, run)
        body = {
            **fields,
            "customer": {
                "customer_id": f"BENCH-{run}-{sequence}",
                "email": email,
                "preferred_channel": "email",
                "language": "en",
            },
            "crm_reference": f"BENCH-{run}-{sequence}",
        }
        yield email, body
