"""The published event contracts: JSON Schemas and an AsyncAPI document generated from the models.

    python -m complaints_common.events.catalog write docs/events    # regenerate the committed files
    python -m complaints_common.events.catalog check docs/events    # fail if they are stale or broken

A committed schema is a promise to consumers. `write` refuses to overwrite one with an incompatible
change (a property removed or retyped, a new required property): that needs a new version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from complaints_common.events.envelope import CONTENT_TYPE, CONTRACTS, EventContract
from complaints_common.events.topics import TOPICS

# Who produces and who consumes each event: the AsyncAPI operations. Keep in step with the services.
PRODUCERS = {
    "complaint.created": "intake",
    "complaint.status_changed": "intake",
    "complaint.deadlines_changed": "intake",
    "complaint.letter_issued": "intake",
    "complaint.erasure_requested": "intake",
    "compensation.granted": "compensation",
    "compensation.decision_recorded": "compensation",
    "compensation.voucher_changed": "compensation",
    "followup.due": "followup",
    "followup.outcome": "followup",
    "notification.status": "notifications",
    "platform.api_key_changed": "intake",
}
CONSUMERS = {
    "complaint.created": ["compensation", "followup", "notifications"],
    "complaint.status_changed": ["compensation", "followup", "notifications"],
    "complaint.deadlines_changed": ["followup"],
    "complaint.letter_issued": ["notifications"],
    "complaint.erasure_requested": ["intake", "compensation", "followup", "notifications"],
    "compensation.granted": ["intake", "followup", "notifications"],
    "compensation.decision_recorded": ["intake", "followup"],
    "compensation.voucher_changed": ["intake", "notifications"],
    "followup.due": ["intake", "notifications"],
    "followup.outcome": ["intake", "notifications"],
    "notification.status": ["intake"],
    "platform.api_key_changed": ["compensation", "followup", "notifications"],
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


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for contract in CONTRACTS.values():
        message_id = f"{contract.name.replace('.', '_')}_v{contract.version}"
        messages[message_id] = _message(contract)
        channel = channels.setdefault(
            contract.topic.name,
            {
                "address": contract.topic.name,
                "description": contract.topic.description,
                "messages": {},
                "bindings": {"kafka": {"partitions": contract.topic.partitions}},
            },
        )
        channel["messages"][message_id] = {"$ref": f"#/components/messages/{message_id}"}
        ref = {"$ref": f"#/channels/{contract.topic.name}"}
        operations[f"{PRODUCERS[contract.name]}_sends_{message_id}"] = {"action": "send", "channel": ref}
        for consumer in CONSUMERS[contract.name]:
            operations[f"{consumer}_receives_{message_id}"] = {"action": "receive", "channel": ref}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Complaint-handling platform events",
            "version": "1.0.0",
            "description": (
                "CloudEvents 1.0 in Kafka binary mode: attributes in `ce_*` headers, the W3C "
                "`traceparent` header, the complaint id as the message key, JSON data. A dead-letter "
                f"topic `<topic>.dlq` exists for each of: {', '.join(t.name for t in TOPICS)}."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _message(contract: EventContract[Any]) -> dict[str, Any]:
    return {
        "name": contract.ce_type,
        "title": contract.name,
        "summary": (contract.model.__doc__ or "").strip().splitlines()[0],
        "contentType": CONTENT_TYPE,
        "headers": {
            "type": "object",
            "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject"],
            "properties": {
                "ce_specversion": {"const": "1.0"},
                "ce_id": {"type": "string", "description": "Unique per event; consumers dedupe on it."},
                "ce_source": {"type": "string", "examples": [f"/complaints/{PRODUCERS[contract.name]}"]},
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
        "payload": {"$ref": f"schemas/{schema_file(contract)}"},
    }


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


def generated_files() -> dict[str, str]:
    files = {
        f"schemas/{schema_file(c)}": json.dumps(json_schema(c), indent=2, sort_keys=True) + "\n"
        for c in CONTRACTS.values()
    }
    files["asyncapi.yaml"] = yaml.safe_dump(asyncapi_document(), sort_keys=False, allow_unicode=True)
    return files


def check(root: Path) -> list[str]:
    """Every committed schema still compatible, and every generated file up to date."""
    problems = []
    for name, text in generated_files().items():
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
    return problems


def write(root: Path) -> None:
    for name, text in generated_files().items():
        path = root / name
        if path.exists() and name.endswith(".json"):
            broken = incompatibilities(json.loads(path.read_text()), json.loads(text))
            if broken:
                raise SystemExit(
                    f"{name} would break consumers; publish a new version instead:\n" + "\n".join(broken)
                )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def main(argv: list[str]) -> None:
    command, root = argv
    if command == "write":
        write(Path(root))
    else:
        problems = check(Path(root))
        if problems:
            raise SystemExit("\n".join(problems))


if __name__ == "__main__":
    main(sys.argv[1:])
