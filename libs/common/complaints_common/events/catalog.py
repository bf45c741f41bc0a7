"""The published event contracts: JSON Schemas, an AsyncAPI document and the README tables, generated
from the models and from what each service declares it consumes and publishes.

    python -m complaints_common.events.catalog write docs/events README.md    # regenerate the files
    python -m complaints_common.events.catalog check docs/events README.md    # fail if stale or broken

The declarations are the services' own (`ServiceDefinition.consumes` and `.publishes`, found through
the `complaints.services` entry points), and the code is held to them: a worker whose subscriptions
differ from its `consumes` does not start, and an outbox refuses an event not in `publishes`. So the
AsyncAPI operations are the subscriptions that run.

A committed schema is a promise to consumers. `write` refuses to overwrite one with an incompatible
change (a property removed or retyped, a new required property): that needs a new version.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

import yaml

from complaints_common.events import envelope as ev
from complaints_common.events.envelope import CONTENT_TYPE, CONTRACTS, EventContract
from complaints_common.events.topics import TOPICS, TopicSpec

SERVICES_ENTRY_POINT = "complaints.services"
# JSON Schema 2020-12, as the AsyncAPI payloads declare it (the official parser knows draft-07 only;
# tools/standards/asyncapi.mjs registers a parser for this format that validates with Ajv's 2020-12).
SCHEMA_FORMAT = "application/schema+json;version=2020-12"
KAFKA_BINDING_VERSION = "0.5.0"
BEGIN_TABLE = "<!-- BEGIN generated: events (python -m complaints_common.events.catalog write) -->"
END_TABLE = "<!-- END generated: events -->"


# The flows a subscriber can follow, and the events each produces: tags on the AsyncAPI messages
# (`flow:<name>`). The end-to-end tests read them from the document and check a journey produces them.
FLOWS: dict[str, tuple[str, tuple[EventContract[Any], ...]]] = {
    "automatic-grant": (
        "A complaint filed and settled within frontline authority: acknowledged, compensated, its "
        "satisfaction check scheduled and fallen due, the customer told at each step.",
        (
            ev.COMPLAINT_CREATED_V1,
            ev.COMPLAINT_STATUS_CHANGED_V1,
            ev.COMPENSATION_GRANTED_V1,  # the grant alone: no decision record with it
            ev.FOLLOWUP_SCHEDULED_V1,
            ev.FOLLOWUP_DUE_V1,
            ev.NOTIFICATION_STATUS_V1,
        ),
    ),
    "approval": (
        "Compensation above frontline authority: recorded as pending approval, then granted (the grant "
        "alone) or rejected (recorded).",
        (ev.COMPENSATION_DECISION_RECORDED_V1, ev.COMPENSATION_GRANTED_V1),
    ),
    "call-back": (
        "An agent records the satisfaction call-back; a dissatisfied customer's complaint is reopened.",
        (ev.FOLLOWUP_OUTCOME_V1, ev.COMPLAINT_STATUS_CHANGED_V1),
    ),
    "voucher": ("A granted voucher redeemed, expired or clawed back.", (ev.VOUCHER_CHANGED_V1,)),
    "deadlines": (
        "A complaint's clock paused or resumed, or its deadline profile changed.",
        (ev.COMPLAINT_DEADLINES_CHANGED_V1,),
    ),
    "api-keys": (
        "An API key issued or revoked in intake, copied by every other service.",
        (ev.API_KEY_CHANGED_V1,),
    ),
}
FLOW_TAG_PREFIX = "flow:"


class DeclaresContracts(Protocol):
    """What the catalog reads of a service definition: its name and its declared contracts."""

    @property
    def name(self) -> str: ...
    def contracts_consumed(self) -> tuple[EventContract[Any], ...]: ...
    def contracts_published(self) -> tuple[EventContract[Any], ...]: ...


def declared_services() -> list[DeclaresContracts]:
    """Every installed service's definition, in name order (importing it starts nothing)."""
    services = [ep.load() for ep in entry_points(group=SERVICES_ENTRY_POINT)]
    return sorted(services, key=lambda service: service.name)


def producers(services: Sequence[DeclaresContracts]) -> dict[str, list[str]]:
    """ce_type -> the services that publish it."""
    return {
        t: [s.name for s in services if t in {c.ce_type for c in s.contracts_published()}] for t in CONTRACTS
    }


def consumers(services: Sequence[DeclaresContracts]) -> dict[str, list[str]]:
    """ce_type -> the services that consume it."""
    return {
        t: [s.name for s in services if t in {c.ce_type for c in s.contracts_consumed()}] for t in CONTRACTS
    }


IGNORED_KEYWORDS = {"title", "description", "examples", "default"}
NAME_MAPS = {"properties", "$defs", "patternProperties"}


def schema_file(contract: EventContract[Any]) -> str:
    return f"{contract.name}.v{contract.version}.json"


def json_schema(contract: EventContract[Any]) -> dict[str, Any]:
    schema = contract.model.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": contract.dataschema,
        "x-cloudevents-type": contract.ce_type,
        "x-kafka-topic": contract.topic.name,
        **schema,
    }


def message_id(contract: EventContract[Any]) -> str:
    return f"{contract.name.replace('.', '_')}_v{contract.version}"


def channel_id(topic: TopicSpec) -> str:
    """AsyncAPI ids are letters, digits, `_` and `-`; the address keeps the topic's name."""
    return topic.name.replace(".", "_")


def _summary(text: str) -> str:
    """The first sentence of a docstring, whole (a docstring's first line may stop mid-sentence)."""
    flat = " ".join(text.split())
    return re.split(r"(?<=\.)\s", flat, maxsplit=1)[0]


def asyncapi_document(services: Sequence[DeclaresContracts]) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for contract in CONTRACTS.values():
        messages[message_id(contract)] = _message(contract, producers(services)[contract.ce_type])
        channel = channels.setdefault(
            channel_id(contract.topic),
            {
                "address": contract.topic.name,
                "title": contract.topic.name,
                "summary": _summary(contract.topic.description),
                "description": contract.topic.description,
                "messages": {},
                "bindings": {
                    "kafka": {
                        "topic": contract.topic.name,
                        "partitions": contract.topic.partitions,
                        "topicConfiguration": {"retention.ms": contract.topic.retention_hours * 3_600_000},
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                },
            },
        )
        channel["messages"][message_id(contract)] = {"$ref": f"#/components/messages/{message_id(contract)}"}
    operations: dict[str, Any] = {}
    for service in services:
        for action, verb, contracts in (
            ("send", "sends", service.contracts_published()),
            ("receive", "receives", service.contracts_consumed()),
        ):
            for topic in sorted({c.topic.name for c in contracts}):
                on_topic = [c for c in contracts if c.topic.name == topic]
                cid = channel_id(on_topic[0].topic)
                names = ", ".join(f"`{c.ce_type}`" for c in on_topic)
                operations[f"{service.name}_{verb}_{cid}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{cid}"},
                    "summary": f"{service.name} {verb} {names} on {topic}.",
                    "messages": [{"$ref": f"#/channels/{cid}/messages/{message_id(c)}"} for c in on_topic],
                }
    return {
        "asyncapi": "3.1.0",
        "info": {
            "title": "Complaint-handling platform events",
            "version": "1.0.0",
            "description": (
                "CloudEvents 1.0 in Kafka binary mode: attributes in `ce_*` headers, the W3C "
                "`traceparent` header, the complaint id as the message key, JSON data. A dead-letter "
                f"topic `<topic>.dlq` exists for each of: {', '.join(t.name for t in TOPICS)}. "
                "The operations are generated from what each service declares it consumes and "
                "publishes, which the services are held to."
            ),
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _message(contract: EventContract[Any], sent_by: list[str]) -> dict[str, Any]:
    doc = contract.model.__doc__ or ""
    return {
        "name": contract.ce_type,
        "title": contract.name,
        "summary": _summary(doc),
        "description": " ".join(doc.split()),
        "contentType": CONTENT_TYPE,
        "headers": {
            "type": "object",
            "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject"],
            "properties": {
                "ce_specversion": {"const": "1.0"},
                "ce_id": {"type": "string", "description": "Unique per event; consumers dedupe on it."},
                "ce_source": {"type": "string", "examples": [f"/complaints/{name}" for name in sent_by]},
                "ce_type": {"const": contract.ce_type},
                "ce_time": {"type": "string", "format": "date-time"},
                "ce_subject": {
                    "type": "string",
                    "description": "The complaint id (the key id for an API key event); also the Kafka key.",
                },
                "ce_dataschema": {"const": contract.dataschema},
                "traceparent": {"type": "string", "description": "W3C trace context."},
            },
        },
        "tags": [
            {"name": FLOW_TAG_PREFIX + flow, "description": description}
            for flow, (description, contracts) in FLOWS.items()
            if contract in contracts
        ],
        "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": {"$ref": f"schemas/{schema_file(contract)}"}},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "format": "uuid",
                    "description": "The complaint id: one complaint's events stay in order on one partition.",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def events_table(services: Sequence[DeclaresContracts]) -> str:
    """The Markdown table of every event: type, topic, producers, consumers, schema."""
    sent, received = producers(services), consumers(services)
    lines = [
        "| Type (`ce_type`) | Topic | Producer | Consumers | Schema |",
        "|---|---|---|---|---|",
    ]
    for contract in CONTRACTS.values():
        lines.append(
            f"| `{contract.ce_type}` | `{contract.topic.name}` | {', '.join(sent[contract.ce_type]) or '-'} "
            f"| {', '.join(received[contract.ce_type]) or '-'} "
            f"| [schema](schemas/{schema_file(contract)}) |"
        )
    return "\n".join(lines)


def services_table(services: Sequence[DeclaresContracts]) -> str:
    """The Markdown table of what each service consumes and publishes, by event type and topic."""
    lines = ["| Service | Consumes | Publishes |", "|---|---|---|"]
    for service in services:
        consumed = ", ".join(f"`{c.name}`" for c in service.contracts_consumed()) or "-"
        published = ", ".join(f"`{c.name}` (`{c.topic.name}`)" for c in service.contracts_published()) or "-"
        lines.append(f"| {service.name} | {consumed} | {published} |")
    return "\n".join(lines)


def _normalise(schema: Any) -> Any:
    """Drop documentation keywords; the keys of `properties` and `$defs` are names, kept as they are."""
    if isinstance(schema, list):
        return [_normalise(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in NAME_MAPS and isinstance(value, dict):
            result[key] = {name: _normalise(sub) for name, sub in value.items()}
        elif key not in IGNORED_KEYWORDS:
            result[key] = _normalise(value)
    return result


def incompatibilities(old: dict[str, Any], new: dict[str, Any], path: str = "$") -> list[str]:
    """Why data written under `new` could break a consumer built on `old` (empty: compatible).

    Allowed: new optional properties, new $defs, changed descriptions. Anything else is reported.
    """
    old, new = _normalise(old), _normalise(new)
    problems: list[str] = []
    if "properties" in old:
        new_props = new.get("properties", {})
        for name, old_prop in old["properties"].items():
            if name not in new_props:
                problems.append(f"{path}.{name}: removed")
            else:
                problems += incompatibilities(old_prop, new_props[name], f"{path}.{name}")
        added_required = set(new.get("required", [])) - set(old.get("required", []))
        problems += [f"{path}.{name}: newly required" for name in sorted(added_required)]
        dropped_required = set(old.get("required", [])) - set(new.get("required", []))
        problems += [f"{path}.{name}: no longer required" for name in sorted(dropped_required)]
    for key in ("$defs",):
        for name, old_def in old.get(key, {}).items():
            if name not in new.get(key, {}):
                problems.append(f"{path}.{key}.{name}: removed")
            else:
                problems += incompatibilities(old_def, new[key][name], f"{path}.{key}.{name}")
    for key, value in old.items():
        if key not in {"properties", "required", "$defs"} and new.get(key) != value:
            problems.append(f"{path}: '{key}' changed")
    return problems


def generated_files(services: Sequence[DeclaresContracts]) -> dict[str, str]:
    files = {
        f"schemas/{schema_file(c)}": json.dumps(json_schema(c), indent=2, sort_keys=True) + "\n"
        for c in CONTRACTS.values()
    }
    files["asyncapi.yaml"] = yaml.safe_dump(asyncapi_document(services), sort_keys=False, allow_unicode=True)
    return files


def with_table(text: str, table: str) -> str:
    """`text` with the generated table between its markers replaced."""
    start, end = text.find(BEGIN_TABLE), text.find(END_TABLE)
    if start < 0 or end < start:
        raise ValueError(f"no '{BEGIN_TABLE}' ... '{END_TABLE}' section")
    return text[: start + len(BEGIN_TABLE)] + "\n" + table + "\n" + text[end:]


def _table_for(readme: Path, events_dir: Path, services: Sequence[DeclaresContracts]) -> str:
    """The events README (beside the schemas) gets the per-event table, any other the per-service one."""
    in_events_dir = readme.resolve().parent == events_dir.resolve()
    return events_table(services) if in_events_dir else services_table(services)


def check(
    root: Path, readmes: Sequence[Path] = (), services: Sequence[DeclaresContracts] | None = None
) -> list[str]:
    """Every committed schema still compatible, and every generated file and table up to date."""
    services = declared_services() if services is None else services
    problems = []
    for name, text in generated_files(services).items():
        path = root / name
        if not path.exists():
            problems.append(f"{name}: missing (run the catalog's write command)")
            continue
        if name.endswith(".json"):
            problems += [
                f"{name}: {p}" for p in incompatibilities(json.loads(path.read_text()), json.loads(text))
            ]
        if path.read_text() != text:
            problems.append(f"{name}: out of date (run the catalog's write command)")
    for readme in readmes:
        current = readme.read_text()
        try:
            if with_table(current, _table_for(readme, root, services)) != current:
                problems.append(f"{readme}: events table out of date (run the catalog's write command)")
        except ValueError as exc:
            problems.append(f"{readme}: {exc}")
    return problems


def write(
    root: Path, readmes: Sequence[Path] = (), services: Sequence[DeclaresContracts] | None = None
) -> None:
    services = declared_services() if services is None else services
    for name, text in generated_files(services).items():
        path = root / name
        if path.exists() and name.endswith(".json"):
            broken = incompatibilities(json.loads(path.read_text()), json.loads(text))
            if broken:
                raise SystemExit(
                    f"{name} would break consumers; publish a new version instead:\n" + "\n".join(broken)
                )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for readme in readmes:
        readme.write_text(with_table(readme.read_text(), _table_for(readme, root, services)))


def main(argv: list[str]) -> None:
    command, root, *readmes = argv
    paths = [Path(r) for r in readmes]
    if command == "write":
        write(Path(root), paths)
    else:
        problems = check(Path(root), paths)
        if problems:
            raise SystemExit("\n".join(problems))


if __name__ == "__main__":
    main(sys.argv[1:])
