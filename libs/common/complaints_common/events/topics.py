"""The Kafka topics of the platform: the one list every producer, consumer, launcher and manifest reads.

A topic's partition count bounds how many consumer replicas can share its work, and the message key
(the complaint id) keeps each complaint's events in order within one partition.
"""

from __future__ import annotations

from dataclasses import dataclass

DEAD_LETTER_SUFFIX = ".dlq"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic as operators create it: name, partitions and how long messages are kept."""

    name: str
    partitions: int
    retention_hours: int
    description: str
    # Compacted: the broker keeps the latest record per key for ever (a service deployed later
    # still learns every key); retention_hours then bounds only the tombstones.
    compacted: bool = False

    @property
    def dead_letter(self) -> TopicSpec:
        """The topic where consumers park messages of this topic they cannot process."""
        return TopicSpec(
            name=self.name + DEAD_LETTER_SUFFIX,
            partitions=1,
            retention_hours=24 * 14,
            description=f"Messages of {self.name} a consumer could not process; the error is in headers.",
        )


COMPLAINT_CREATED = TopicSpec("complaint.created", 6, 24 * 7, "A CRM filed a complaint with intake.")
COMPENSATION_GRANTED = TopicSpec(
    "compensation.granted", 6, 24 * 7, "Compensation was granted to the customer for a complaint."
)
FOLLOWUP_DUE = TopicSpec(
    "followup.due",
    6,
    24 * 7,
    "Follow-ups: a satisfaction check was scheduled, or a follow-up (satisfaction check, deadline "
    "watch, call-back) fell due.",
)

COMPLAINT_UPDATED = TopicSpec(
    "complaint.updated", 6, 24 * 7, "A complaint's status or due times changed (intake's lifecycle)."
)
COMPENSATION_DECIDED = TopicSpec(
    "compensation.decided",
    6,
    24 * 7,
    "Compensation decisions that do not grant (waiting, held, refused, rejected), the front line's "
    "options and voucher changes; a grant is on compensation.granted alone.",
)
FOLLOWUP_OUTCOME = TopicSpec(
    "followup.outcome", 6, 24 * 7, "The outcome of a satisfaction call-back an agent recorded."
)
NOTIFICATION_STATUS = TopicSpec(
    "notification.status", 6, 24 * 3, "Whether each message to a customer or CRM was sent or failed."
)
API_KEYS = TopicSpec(
    "platform.api-keys",
    1,
    24 * 7,
    "API keys issued and revoked through intake's admin API (digests, never secrets), by key id.",
    compacted=True,
)

TOPICS: tuple[TopicSpec, ...] = (
    COMPLAINT_CREATED,
    COMPENSATION_GRANTED,
    FOLLOWUP_DUE,
    COMPLAINT_UPDATED,
    COMPENSATION_DECIDED,
    FOLLOWUP_OUTCOME,
    NOTIFICATION_STATUS,
    API_KEYS,
)


def all_topics_with_dead_letters() -> list[TopicSpec]:
    """Every topic and its dead-letter topic, in the order they should be created."""
    return [t for topic in TOPICS for t in (topic, topic.dead_letter)]
