"""The published event contract is the code's: what each service declares it consumes and publishes
is what the AsyncAPI document lists, what its worker subscribes to, and all its outbox accepts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import MetaData

from complaints_common.events import catalog
from complaints_common.events.contracts import NotificationStatusV1
from complaints_common.events.envelope import COMPLAINT_CREATED_V1, NOTIFICATION_STATUS_V1, Event
from complaints_common.messaging import Outbox

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI = yaml.safe_load((ROOT / "docs/events/asyncapi.yaml").read_text())
SERVICES = catalog.declared_services()


def _operation_types(service: str, action: str) -> set[str]:
    """The ce_types of the messages the document's `action` operations of `service` list."""
    messages = ASYNCAPI["components"]["messages"]
    found = set()
    for operation_id, operation in ASYNCAPI["operations"].items():
        if operation_id.startswith(f"{service}_") and operation["action"] == action:
            for ref in operation["messages"]:
                found.add(messages[ref["$ref"].rsplit("/", 1)[-1]]["name"])
    return found


def test_all_four_services_declare_their_contracts() -> None:
    assert [s.name for s in SERVICES] == ["compensation", "followup", "intake", "notifications"]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_the_documented_receivers_are_the_subscriptions_that_run(service: Any) -> None:
    # Built, not started: nothing connects.
    dependencies = service.dependencies(service.runtime(service.settings_factory()))
    running = {s.contract.ce_type for s in service.checked_subscriptions(dependencies)}
    assert running == _operation_types(service.name, "receive")
    assert {c.ce_type for c in service.contracts_published()} == _operation_types(service.name, "send")


def test_every_event_has_a_producer_and_every_operation_names_its_messages() -> None:
    assert all(catalog.producers(SERVICES).values())
    assert all(operation["messages"] for operation in ASYNCAPI["operations"].values())


def test_a_worker_whose_subscriptions_differ_from_its_declaration_does_not_start() -> None:
    intake = next(s for s in SERVICES if s.name == "intake")
    undeclared = replace(intake, consumes=intake.consumes[1:])
    with pytest.raises(RuntimeError, match="keep ServiceDefinition\\.consumes and the subscriptions in step"):
        undeclared.checked_subscriptions(
            undeclared.dependencies(undeclared.runtime(undeclared.settings_factory()))
        )


def test_the_outbox_refuses_an_event_the_service_does_not_declare() -> None:
    outbox = Outbox(MetaData(schema="notifications"), [NOTIFICATION_STATUS_V1])
    data = NotificationStatusV1.model_validate(
        {
            "complaint_id": "6f1c1f7e-6c0b-4a53-9f55-2d6b1c3f0a11",
            "message_id": "0b8f0c55-7d5e-4a8e-9a44-4c3b0a8e1f22",
            "kind": "acknowledgement",
            "channel": "email",
            "status": "sent",
            "at": "2026-12-01T10:00:00Z",
        }
    )
    assert outbox.row(Event(NOTIFICATION_STATUS_V1, data, "/tests"))["type"] == NOTIFICATION_STATUS_V1.ce_type
    foreign = Event(COMPLAINT_CREATED_V1, data, "/tests")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not among the events this service publishes"):
        outbox.row(foreign)
