"""Follow-up's own Prometheus metrics (served on /metrics with the shared ones)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from complaints_followup.domain.schedule import FollowupKind

TIMERS_FIRED = Counter("followup_timers_fired_total", "Timers fired as followup.due, by kind.", ["kind"])
TIMER_LATENESS = Histogram(
    "followup_timer_lateness_seconds",
    "How long after its due time a timer fired.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
)
SCHEDULED = Gauge("followup_timers_scheduled", "Timers waiting to fall due, by kind.", ["kind"])
OVERDUE = Gauge(
    "followup_timers_overdue",
    "Scheduled timers already past their due time (the loop is behind), by kind.",
    ["kind"],
)

# Each kind's series, looked up once: firing a batch counts every timer in it.
FIRED_OF_KIND = {kind: TIMERS_FIRED.labels(kind) for kind in FollowupKind}
SCHEDULED_OF_KIND = {kind: SCHEDULED.labels(kind) for kind in FollowupKind}
OVERDUE_OF_KIND = {kind: OVERDUE.labels(kind) for kind in FollowupKind}
