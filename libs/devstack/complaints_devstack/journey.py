"""A complaint's journey as a timeline tree, from the spans the services write locally.

On the laptop stack no Jaeger runs, so every service also appends its finished spans to
`.run/spans/<service>.jsonl` (`<SVC>_SPANS_FILE`). This finds the trace(s) a complaint belongs to
(any span carrying `complaints.complaint_id`) and prints every span of them, children under parents,
with its start relative to the first span and its duration:

    +0.0 ms      12.1 ms  intake         POST /v1/complaints
    +14.2 ms      3.0 ms  compensation     complaint.created process
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Database round trips that say nothing to a person on call; shown with --all.
NOISE = ("BEGIN", "COMMIT", "ROLLBACK", "SELECT", "INSERT", "UPDATE", "DELETE", "show", "select", ";")


@dataclass
class SpanNode:
    span: dict[str, Any]
    children: list[SpanNode] = field(default_factory=list)

    @property
    def start(self) -> int:
        return int(self.span["start_ns"])


def read_spans(directory: Path) -> list[dict[str, Any]]:
    spans = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                try:
                    spans.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill -9
    return spans


def journey_spans(spans: Iterable[dict[str, Any]], complaint_id: str) -> list[dict[str, Any]]:
    spans = list(spans)
    traces = {
        s["trace_id"]
        for s in spans
        if (s.get("attributes") or {}).get("complaints.complaint_id") == complaint_id
    }
    return [s for s in spans if s["trace_id"] in traces]


def build_forest(spans: list[dict[str, Any]], include_noise: bool = False) -> list[SpanNode]:
    nodes = {s["span_id"]: SpanNode(s) for s in spans}
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = nodes.get(node.span.get("parent_id") or "")
        (parent.children if parent else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: n.start)
        if not include_noise:
            node.children = [c for c in node.children if not _is_noise(c)]
    return sorted(roots, key=lambda n: n.start)


def _is_noise(node: SpanNode) -> bool:
    return str(node.span["name"]).startswith(NOISE) and not node.children


def render(roots: list[SpanNode]) -> Iterator[str]:
    if not roots:
        return
    origin = roots[0].start
    for root in roots:
        yield from _render(root, origin, 0)


def _render(node: SpanNode, origin: int, depth: int) -> Iterator[str]:
    span = node.span
    offset_ms = (node.start - origin) / 1e6
    duration_ms = (int(span["end_ns"]) - node.start) / 1e6
    status = "" if span.get("status") != "ERROR" else "  [error]"
    yield (
        f"+{offset_ms:10.1f} ms {duration_ms:9.1f} ms  {span.get('service') or '?':<14}"
        f"{'  ' * depth}{span['name']}{status}"
    )
    for child in node.children:
        yield from _render(child, origin, depth + 1)


def journey_report(directory: Path, complaint_id: str, include_noise: bool = False) -> str:
    spans = journey_spans(read_spans(directory), complaint_id)
    if not spans:
        return f"No spans for complaint {complaint_id} in {directory}: is the platform running (make run)?"
    roots = build_forest(spans, include_noise)
    services = sorted({s.get("service") or "?" for s in spans})
    header = f"Journey of complaint {complaint_id}: {len(spans)} spans across {', '.join(services)}"
    return "\n".join([header, *render(roots)])
