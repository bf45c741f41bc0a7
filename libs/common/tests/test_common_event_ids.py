"""Event ids: derived from the cause inside a handler, random outside one."""

from __future__ import annotations

import dataclasses
import uuid

from complaints_common.events.envelope import Event
from complaints_common.events.ids import NAMESPACE, caused_by, derived_event_id, new_event_id

HANDLER = "compensation/complaints.complaint.created.v1"


def test_every_event_takes_its_default_id_from_new_event_id() -> None:
    (id_field,) = [f for f in dataclasses.fields(Event) if f.name == "id"]
    assert id_field.default_factory is new_event_id


def test_outside_a_handler_ids_are_random() -> None:
    assert new_event_id() != new_event_id()
    assert uuid.UUID(new_event_id()).version == 4


def test_inside_a_handler_ids_follow_the_cause_the_handler_and_the_position() -> None:
    cause = str(uuid.uuid4())
    with caused_by(cause, HANDLER):
        first = [new_event_id(), new_event_id()]
    with caused_by(cause, HANDLER):
        again = [new_event_id(), new_event_id()]
    with caused_by(cause, "followup/complaints.complaint.created.v1"):
        other_handler = new_event_id()
    assert first == again, "the same input handled again emits the same ids"
    assert first[0] != first[1], "two outputs of one handling differ"
    assert other_handler not in first, "another consumer of the same event derives its own"
    assert first[0] == str(uuid.uuid5(NAMESPACE, f"{cause}/{HANDLER}/0"))
    assert first[1] == derived_event_id(cause, HANDLER, 1)
    assert uuid.UUID(new_event_id()).version == 4, "the cause ends with the handler"
