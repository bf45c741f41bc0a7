"""Prometheus metrics every service exposes at /metrics; service-specific ones live beside their code.

Named as Prometheus asks: the shared ones carry the application prefix `complaints_` (the service's
own carry their domain's: `compensation_`, `followup_`, `notification_`), base units, `_total` on
counters. No `*_created` series: they double the series count and no dashboard reads them.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]

MetricT = TypeVar("MetricT", Counter, Histogram)


class Children(Generic[MetricT]):
    """A metric's children by label values, each looked up once: `labels()` validates the values
    and takes the metric's lock on every call, on the per-message paths. For series that are never
    removed (a removed child would keep counting outside the registry)."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: MetricT) -> None:
        self._metric: MetricT = metric
        self._children: dict[tuple[str, ...], MetricT] = {}

    def __call__(self, *values: str) -> MetricT:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


HTTP_REQUEST_SECONDS = Histogram(
    "complaints_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CONSUMER_HANDLER_SECONDS = Histogram(
    "complaints_consumer_handler_duration_seconds",
    "Time to process one message, database commit included.",
    ["topic", "group"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CONSUMER_MESSAGES = Counter(
    "complaints_consumer_messages_total",
    "Messages seen by a consumer, by outcome (processed, duplicate, skipped by type, dead_lettered).",
    ["topic", "group", "outcome"],
)
CONSUMER_LAG = Gauge(
    "complaints_consumer_lag_messages",
    "Log-end offset minus this consumer's committed offset, asked of the broker every few seconds "
    "(so it grows while a consumer is stuck), per partition it holds.",
    ["topic", "partition", "group"],
)
CONSUMER_LAST_COMMIT = Gauge(
    "complaints_consumer_last_commit_timestamp_seconds",
    "Unix time of the consumer group's last successful offset commit in this process.",
    ["group"],
)
DEAD_LETTERS = Counter(
    "complaints_dead_letter_messages_total",
    "Messages parked on a dead-letter topic.",
    ["topic", "group", "reason"],
)
# Read from the database by every worker replica (not only the one relaying), every few seconds.
OUTBOX_BACKLOG = Gauge("complaints_outbox_backlog_messages", "Outbox rows not yet published.")
OUTBOX_OLDEST_AGE = Gauge("complaints_outbox_oldest_unsent_age_seconds", "Age of the oldest unpublished row.")
RELAY_ACTIVE = Gauge(
    "complaints_relay_active",
    "1 in the one replica whose outbox relay holds the lock and publishes, 0 in every other process.",
)
OUTBOX_PUBLISHED = Counter("complaints_outbox_published_total", "Outbox rows published to Kafka.", ["topic"])
OUTBOX_FAILURES = Counter("complaints_outbox_publish_failures_total", "Failed attempts to publish a batch.")
BACKGROUND_LOOP_RESTARTS = Counter(
    "complaints_background_loop_restarts_total",
    "Background loops (relay, consumers, workers) restarted after an unexpected error.",
    ["loop"],
)

# The per-message series, by label values (topic, group[, outcome]).
consumer_messages = Children(CONSUMER_MESSAGES)
consumer_handler_seconds = Children(CONSUMER_HANDLER_SECONDS)
outbox_published = Children(OUTBOX_PUBLISHED)
