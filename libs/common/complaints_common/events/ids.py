"""Event ids: random for an event caused by a request or a timer, derived from the cause for an event
caused by another event.

A consumer's handler runs inside `caused_by(<consumed event id>, <consumer group>/<its type>)`; every
event it makes there gets the UUIDv5 of that cause and its position among the handler's outputs
(`Event`'s default id asks `new_event_id`). Re-processing the same input therefore emits the same
ids: after a service's database is restored from before a batch and the batch is consumed again,
the events it re-emits carry the ids downstream inboxes already hold, and nobody acts twice. The
handlers know nothing of this. Outside a handler (an API request, a timer, a delivery loop) ids stay
random: a retried API request is answered from the idempotency record, and emits nothing again.

The derivation is part of the contract between releases: changing the namespace, the name or the
position scheme makes a replay after a restore emit new ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# Fixed for ever (see above): uuid5(NAMESPACE_URL, "urn:complaints:event-id").
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:complaints:event-id")


@dataclass(slots=True)
class _Cause:
    event_id: str
    handler: str
    outputs: int = 0


_cause: ContextVar[_Cause | None] = ContextVar("complaints_event_cause", default=None)


def new_event_id() -> str:
    """The id of an event made now: derived from the event being handled, if any, else random."""
    cause = _cause.get()
    if cause is None:
        return str(uuid.uuid4())
    position, cause.outputs = cause.outputs, cause.outputs + 1
    return derived_event_id(cause.event_id, cause.handler, position)


def derived_event_id(cause_id: str, handler: str, position: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{cause_id}/{handler}/{position}"))


@contextmanager
def caused_by(event_id: str, handler: str) -> Iterator[None]:
    """Events made inside get ids derived from `event_id`, `handler` and their order. Enter it
    once per attempt: a retried handler numbers its outputs from 0 again."""
    token = _cause.set(_Cause(event_id, handler))
    try:
        yield
    finally:
        _cause.reset(token)
