"""The per-message metric children: looked up once, counting in the metric's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from complaints_common.metrics import Children


def test_a_child_is_looked_up_once_per_label_values_and_counts_in_the_registry() -> None:
    registry = CollectorRegistry()
    counter = Counter("t_messages_total", "Messages.", ["topic", "outcome"], registry=registry)
    children = Children(counter)

    processed = children("complaint.created", "processed")
    assert children("complaint.created", "processed") is processed, "cached, not looked up again"
    assert children("complaint.created", "duplicate") is not processed
    processed.inc()
    children("complaint.created", "processed").inc(2)
    children("complaint.created", "duplicate").inc()

    def sample(outcome: str) -> float | None:
        labels = {"topic": "complaint.created", "outcome": outcome}
        return registry.get_sample_value("t_messages_total", labels)

    assert sample("processed") == 3
    assert sample("duplicate") == 1


def test_histogram_children_observe_into_their_series() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("t_seconds", "Time.", ["topic"], buckets=(0.1, 1.0), registry=registry)
    children = Children(histogram)
    children("a").observe(0.05)
    children("a").observe(0.5)
    assert registry.get_sample_value("t_seconds_count", {"topic": "a"}) == 2
    assert registry.get_sample_value("t_seconds_bucket", {"topic": "a", "le": "0.1"}) == 1
