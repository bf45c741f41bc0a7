"""The one event envelope: CloudEvents 1.0 in Kafka binary mode.

Attributes travel as `ce_*` headers, the data as JSON in the value, the complaint id as the key (so
one complaint's events stay in order on one partition), and the W3C `traceparent` beside them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from complaints_common.events import contracts as c
from complaints_common.events.ids import new_event_id
from complaints_common.events.topics import (
    API_KEYS,
    COMPENSATION_DECIDED,
    COMPENSATION_GRANTED,
    COMPLAINT_CREATED,
    COMPLAINT_UPDATED,
    FOLLOWUP_DUE,
    FOLLOWUP_OUTCOME,
    NOTIFICATION_STATUS,
    TopicSpec,
)

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
# A Kafka record above this is refused: no legitimate event comes near it.
MAX_EVENT_BYTES = 256 * 1024

DataT = TypeVar("DataT", bound=c.Payload)


@dataclass(frozen=True, slots=True)
class EventContract(Generic[DataT]):
    """An event type at one version: its data model and the topic it travels on."""

    name: str
    version: int
    model: type[DataT]
    topic: TopicSpec

    @property
    def ce_type(self) -> str:
        return f"complaints.{self.name}.v{self.version}"

    @property
    def dataschema(self) -> str:
        return f"urn:complaints:schema:{self.name}:v{self.version}"


COMPLAINT_CREATED_V1 = EventContract("complaint.created", 1, c.ComplaintCreatedV1, COMPLAINT_CREATED)
COMPLAINT_STATUS_CHANGED_V1 = EventContract(
    "complaint.status_changed", 1, c.ComplaintStatusChangedV1, COMPLAINT_UPDATED
)
COMPLAINT_DEADLINES_CHANGED_V1 = EventContract(
    "complaint.deadlines_changed", 1, c.ComplaintDeadlinesChangedV1, COMPLAINT_UPDATED
)
COMPLAINT_LETTER_ISSUED_V1 = EventContract(
    "complaint.letter_issued", 1, c.ComplaintLetterIssuedV1, COMPLAINT_UPDATED
)
COMPLAINT_ERASURE_REQUESTED_V1 = EventContract(
    "complaint.erasure_requested", 1, c.ComplaintErasureRequestedV1, COMPLAINT_UPDATED
)
COMPENSATION_GRANTED_V1 = EventContract(
    "compensation.granted", 1, c.CompensationGrantedV1, COMPENSATION_GRANTED
)
COMPENSATION_DECISION_RECORDED_V1 = EventContract(
    "compensation.decision_recorded", 1, c.CompensationDecisionRecordedV1, COMPENSATION_DECIDED
)
COMPENSATION_OPTIONS_OFFERED_V1 = EventContract(
    "compensation.options_offered", 1, c.CompensationOptionsOfferedV1, COMPENSATION_DECIDED
)
VOUCHER_CHANGED_V1 = EventContract(
    "compensation.voucher_changed", 1, c.VoucherChangedV1, COMPENSATION_DECIDED
)
FOLLOWUP_DUE_V1 = EventContract("followup.due", 1, c.FollowupDueV1, FOLLOWUP_DUE)
FOLLOWUP_SCHEDULED_V1 = EventContract("followup.scheduled", 1, c.FollowupScheduledV1, FOLLOWUP_DUE)
FOLLOWUP_OUTCOME_V1 = EventContract("followup.outcome", 1, c.FollowupOutcomeV1, FOLLOWUP_OUTCOME)
NOTIFICATION_STATUS_V1 = EventContract("notification.status", 1, c.NotificationStatusV1, NOTIFICATION_STATUS)
API_KEY_CHANGED_V1 = EventContract("platform.api_key_changed", 1, c.ApiKeyChangedV1, API_KEYS)

CONTRACTS: dict[str, EventContract[Any]] = {
    contract.ce_type: contract
    for contract in (
        COMPLAINT_CREATED_V1,
        COMPLAINT_STATUS_CHANGED_V1,
        COMPLAINT_DEADLINES_CHANGED_V1,
        COMPLAINT_LETTER_ISSUED_V1,
        COMPLAINT_ERASURE_REQUESTED_V1,
        COMPENSATION_GRANTED_V1,
        COMPENSATION_DECISION_RECORDED_V1,
        COMPENSATION_OPTIONS_OFFERED_V1,
        VOUCHER_CHANGED_V1,
        FOLLOWUP_SCHEDULED_V1,
        FOLLOWUP_DUE_V1,
        FOLLOWUP_OUTCOME_V1,
        NOTIFICATION_STATUS_V1,
        API_KEY_CHANGED_V1,
    )
}


@dataclass(frozen=True, slots=True)
class Event(Generic[DataT]):
    """One event, as written to the outbox and as handed to a consumer's handler."""

    contract: EventContract[DataT]
    data: DataT
    source: str
    # Random, or derived from the event a consumer is handling (complaints_common.events.ids).
    id: str = field(default_factory=new_event_id)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def subject(self) -> str:
        """The complaint id (the key id of a key event): the CloudEvents subject and the Kafka key."""
        return self.data.subject

    def payload_json(self) -> str:
        return self.data.model_dump_json()

    def ce_headers(self) -> dict[str, str]:
        return {
            "ce_specversion": SPEC_VERSION,
            "ce_id": self.id,
            "ce_source": self.source,
            "ce_type": self.contract.ce_type,
            "ce_time": self.time.isoformat(),
            "ce_subject": self.subject,
            "ce_dataschema": self.contract.dataschema,
            "content-type": CONTENT_TYPE,
        }


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event as one Kafka record in binary mode: what `encode_event` makes and `decode_event` reads."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def encode_event(event: Event[Any]) -> EventRecord:
    """The Kafka record of an event: the complaint id as key, the data as JSON, `ce_*` headers.

    The relay sends what the outbox kept (its headers carry the writer's trace context); this is
    for whoever produces an event directly, such as a test standing in for another service.
    """
    headers = [(name, value.encode()) for name, value in event.ce_headers().items()]
    return EventRecord(event.subject.encode(), event.payload_json().encode(), headers)


class MalformedEvent(ValueError):
    """A message that can never be processed (poison): it goes to the dead-letter topic at once."""


def headers_dict(headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Kafka headers as text; the first value of a repeated key wins, as in W3C propagation."""
    result: dict[str, str] = {}
    for key, value in headers or ():
        if key not in result and value is not None:
            try:
                result[key] = value.decode()
            except UnicodeDecodeError as exc:
                raise MalformedEvent(f"header {key!r} is not UTF-8") from exc
    return result


def describe_validation_error(exc: ValidationError) -> str:
    """Which fields are wrong and why, without echoing their values (they may be personal data)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    )


def _required(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise MalformedEvent(f"missing CloudEvents header {name}")
    return value


def decode_event(key: bytes | None, value: bytes | None, headers: Mapping[str, str]) -> Event[Any]:
    """Parse and validate one Kafka record; anything wrong raises MalformedEvent."""
    if value is None:
        raise MalformedEvent("record has no value")
    if len(value) > MAX_EVENT_BYTES:
        raise MalformedEvent(f"record of {len(value)} bytes exceeds {MAX_EVENT_BYTES}")
    if _required(headers, "ce_specversion") != SPEC_VERSION:
        raise MalformedEvent(f"unsupported CloudEvents specversion {headers['ce_specversion']!r}")
    ce_type = _required(headers, "ce_type")
    contract = CONTRACTS.get(ce_type)
    if contract is None:
        raise MalformedEvent(f"unknown event type or version {ce_type!r}")
    source, event_id, subject = (_required(headers, n) for n in ("ce_source", "ce_id", "ce_subject"))
    raw_time = _required(headers, "ce_time")
    try:
        time = datetime.fromisoformat(raw_time)
    except ValueError as exc:
        raise MalformedEvent("ce_time is not an RFC 3339 time") from exc
    try:
        data = contract.model.model_validate_json(value)
    except ValidationError as exc:
        raise MalformedEvent(f"invalid {ce_type} data: {describe_validation_error(exc)}") from exc
    event = Event(contract, data, source, event_id, time)
    if subject != event.subject:
        raise MalformedEvent("ce_subject is not the complaint id of its data")
    if key is None or key.decode(errors="replace") != event.subject:
        raise MalformedEvent("record key is not the complaint id of its data")
    return event
