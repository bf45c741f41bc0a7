"""The CloudEvents envelope: a written event decodes to itself; every malformed record is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from complaints_common.events.contracts import (
    CompensationGrantedV1,
    ComplaintCreatedV1,
    CustomerContact,
    FollowupDueV1,
    Money,
    Offer,
)
from complaints_common.events.envelope import (
    COMPENSATION_GRANTED_V1,
    COMPLAINT_CREATED_V1,
    CONTRACTS,
    FOLLOWUP_DUE_V1,
    MAX_EVENT_BYTES,
    Event,
    MalformedEvent,
    decode_event,
    encode_event,
    headers_dict,
)

SECRET_EMAIL = "zebulon.quackenbush+envelope@example.invalid"
SOURCE = "/complaints/test"


def complaint_created(complaint_id: UUID | None = None) -> Event[ComplaintCreatedV1]:
    data = ComplaintCreatedV1(
        complaint_id=complaint_id or uuid4(),
        reference="CMP-000001",
        client_id="crm-test",
        customer=CustomerContact(customer_id="cust-1", name="Ann Example", email="ann@example.org"),
        channel="phone",
        category="billing",
        severity="high",
        amount_at_stake=Money(amount=Decimal("25.50"), currency="EUR"),
        filed_at=datetime(2025, 3, 1, 12, 30, 5, 123456, tzinfo=UTC),
        tags=["late-delivery"],
    )
    return Event(COMPLAINT_CREATED_V1, data, SOURCE)


def compensation_granted() -> Event[CompensationGrantedV1]:
    data = CompensationGrantedV1(
        complaint_id=uuid4(),
        decision_id=uuid4(),
        customer_id="cust-1",
        offer=Offer(
            kind="coupon",
            description="Coupon for the next purchase",
            value=Money(amount=Decimal("10.00"), currency="EUR"),
            cost=Money(amount=Decimal("3.20"), currency="EUR"),
        ),
        rule_id="auto-small",
        policy_version="2025-01",
        granted_by="auto",
        granted_at=datetime.now(UTC),
    )
    return Event(COMPENSATION_GRANTED_V1, data, SOURCE)


def followup_due() -> Event[FollowupDueV1]:
    now = datetime.now(UTC)
    data = FollowupDueV1(
        complaint_id=uuid4(),
        followup_id=uuid4(),
        customer_id="cust-1",
        kind="satisfaction_check",
        due_at=now,
        fired_at=now,
    )
    return Event(FOLLOWUP_DUE_V1, data, SOURCE)


Record = tuple[bytes | None, bytes | None, dict[str, str]]


def record_of(event: Event[Any]) -> Record:
    record = encode_event(event)
    return record.key, record.value, headers_dict(record.headers)


# --- round trip ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [complaint_created, compensation_granted, followup_due])
def test_an_event_round_trips_through_its_record(make: Callable[[], Event[Any]]) -> None:
    event = make()
    decoded = decode_event(*record_of(event))
    assert decoded == event
    assert decoded.contract is event.contract
    assert decoded.subject == event.subject


def test_ce_headers_carry_the_cloudevents_attributes() -> None:
    event = complaint_created()
    headers = event.ce_headers()
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_id"] == event.id
    assert headers["ce_source"] == SOURCE
    assert headers["ce_type"] == "complaints.complaint.created.v1"
    assert datetime.fromisoformat(headers["ce_time"]) == event.time
    assert headers["ce_subject"] == str(event.data.complaint_id)
    assert headers["ce_dataschema"] == "urn:complaints:schema:complaint.created:v1"
    assert headers["content-type"] == "application/json"


def test_every_contract_is_registered_by_its_type() -> None:
    assert {
        "complaints.complaint.created.v1",
        "complaints.compensation.granted.v1",
        "complaints.followup.due.v1",
    } <= set(CONTRACTS)
    for ce_type, contract in CONTRACTS.items():
        assert contract.ce_type == ce_type
        assert ce_type.startswith("complaints.")


def test_money_travels_as_a_string_so_no_float_rounds_it() -> None:
    event = complaint_created()
    payload = json.loads(event.payload_json())
    assert payload["amount_at_stake"] == {"amount": "25.50", "currency": "EUR"}


def test_unknown_data_fields_are_ignored_for_forward_compatibility() -> None:
    event = complaint_created()
    key, value, headers = record_of(event)
    assert value is not None
    payload = json.loads(value)
    payload["added_in_a_later_minor_release"] = {"anything": 1}
    assert decode_event(key, json.dumps(payload).encode(), headers) == event


def test_a_record_of_exactly_the_size_limit_is_accepted() -> None:
    event = complaint_created()
    key, value, headers = record_of(event)
    assert value is not None
    padded = value + b" " * (MAX_EVENT_BYTES - len(value))
    assert len(padded) == MAX_EVENT_BYTES
    assert decode_event(key, padded, headers) == event


# --- malformed records --------------------------------------------------------------------------------


def _without(name: str) -> Callable[[Record], Record]:
    def mutate(record: Record) -> Record:
        key, value, headers = record
        return key, value, {k: v for k, v in headers.items() if k != name}

    return mutate


def _with_header(name: str, header_value: str) -> Callable[[Record], Record]:
    def mutate(record: Record) -> Record:
        key, value, headers = record
        return key, value, {**headers, name: header_value}

    return mutate


def _with_value(new_value: bytes | None) -> Callable[[Record], Record]:
    def mutate(record: Record) -> Record:
        key, _, headers = record
        return key, new_value, headers

    return mutate


def _with_key(new_key: bytes | None) -> Callable[[Record], Record]:
    def mutate(record: Record) -> Record:
        _, value, headers = record
        return new_key, value, headers

    return mutate


def _with_data(**changes: Any) -> Callable[[Record], Record]:
    def mutate(record: Record) -> Record:
        key, value, headers = record
        assert value is not None
        payload = json.loads(value)
        for name, new in changes.items():
            if new is None:
                payload.pop(name, None)
            else:
                payload[name] = new
        return key, json.dumps(payload).encode(), headers

    return mutate


def _oversized(record: Record) -> Record:
    key, value, headers = record
    assert value is not None
    return key, value + b" " * (MAX_EVENT_BYTES + 1 - len(value)), headers


MALFORMED: dict[str, Callable[[Record], Record]] = {
    "no value (tombstone)": _with_value(None),
    "oversized value": _oversized,
    "empty value": _with_value(b""),
    "invalid JSON": _with_value(b'{"complaint_id": '),
    "JSON that is not an object": _with_value(b"[1, 2, 3]"),
    "value not UTF-8": _with_value(b"\xff\xfe{}"),
    "missing ce_specversion": _without("ce_specversion"),
    "missing ce_type": _without("ce_type"),
    "missing ce_id": _without("ce_id"),
    "missing ce_source": _without("ce_source"),
    "missing ce_time": _without("ce_time"),
    "empty ce_id": _with_header("ce_id", ""),
    "wrong specversion": _with_header("ce_specversion", "0.3"),
    "unknown type": _with_header("ce_type", "complaints.complaint.deleted.v1"),
    "unknown version of a known type": _with_header("ce_type", "complaints.complaint.created.v9"),
    "type without the namespace": _with_header("ce_type", "complaint.created.v1"),
    "ce_time not a timestamp": _with_header("ce_time", "yesterday"),
    "required data field missing": _with_data(filed_at=None),
    "data field of the wrong type": _with_data(severity=3),
    "enum value unknown": _with_data(channel="carrier-pigeon"),
    "complaint id not a UUID": _with_data(complaint_id="not-a-uuid"),
    "key is another complaint's id": _with_key(str(uuid4()).encode()),
    "missing key": _with_key(None),
    "key not UTF-8": _with_key(b"\xff\xfe\xfd"),
}


@pytest.mark.parametrize("mutate", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_record_raises_malformed_event(mutate: Callable[[Record], Record]) -> None:
    key, value, headers = mutate(record_of(complaint_created()))
    with pytest.raises(MalformedEvent):
        decode_event(key, value, headers)


def test_a_record_without_ce_subject_is_malformed() -> None:
    key, value, headers = _without("ce_subject")(record_of(complaint_created()))
    with pytest.raises(MalformedEvent):
        decode_event(key, value, headers)


def test_the_oversized_error_names_the_limit() -> None:
    key, value, headers = _oversized(record_of(complaint_created()))
    with pytest.raises(MalformedEvent, match=str(MAX_EVENT_BYTES)):
        decode_event(key, value, headers)


def test_invalid_data_names_the_bad_fields_without_echoing_their_values() -> None:
    event = complaint_created()
    key, value, headers = record_of(event)
    assert value is not None
    payload = json.loads(value)
    payload["severity"] = SECRET_EMAIL
    payload["channel"] = SECRET_EMAIL
    payload["customer"]["language"] = SECRET_EMAIL
    payload["customer"]["email"] = SECRET_EMAIL * 10  # over the 254-character limit
    payload["reference"] = SECRET_EMAIL
    with pytest.raises(MalformedEvent) as caught:
        decode_event(key, json.dumps(payload).encode(), headers)
    message = str(caught.value)
    for field in ("severity", "channel", "customer.language", "customer.email", "reference"):
        assert field in message
    assert SECRET_EMAIL not in message
    assert "zebulon" not in message
    assert "example.invalid" not in message


def test_invalid_json_does_not_echo_the_value() -> None:
    key, _, headers = record_of(complaint_created())
    with pytest.raises(MalformedEvent) as caught:
        decode_event(key, f'{{"complaint_id": "{SECRET_EMAIL}"'.encode(), headers)
    assert SECRET_EMAIL not in str(caught.value)


def test_a_complaint_id_that_is_an_email_is_not_echoed() -> None:
    key, value, headers = _with_data(complaint_id=SECRET_EMAIL)(record_of(complaint_created()))
    with pytest.raises(MalformedEvent) as caught:
        decode_event(key, value, headers)
    assert "complaint_id" in str(caught.value)
    assert SECRET_EMAIL not in str(caught.value)


# --- headers ------------------------------------------------------------------------------------------


def test_headers_dict_decodes_text_and_keeps_the_first_of_repeated_keys() -> None:
    headers = headers_dict(
        [("ce_id", b"first"), ("ce_id", b"second"), ("empty", None), ("traceparent", b"00-ab")]
    )
    assert headers == {"ce_id": "first", "traceparent": "00-ab"}


def test_headers_dict_of_no_headers_is_empty() -> None:
    assert headers_dict(None) == {}
    assert headers_dict([]) == {}


def test_a_non_utf8_header_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="ce_source"):
        headers_dict([("ce_id", b"abc"), ("ce_source", b"\xff\xfe")])
