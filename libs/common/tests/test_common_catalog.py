"""The event catalog: the committed schemas are current, and incompatible changes are caught."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from complaints_common.events import catalog
from complaints_common.events.envelope import CONTRACTS

REPO_ROOT = Path(__file__).resolve().parents[3]
EVENTS_DIR = REPO_ROOT / "docs" / "events"


def _base() -> dict[str, Any]:
    """A schema shaped like pydantic's output: an object, a $def, an enum, an optional property."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ThingHappenedV1",
        "description": "A thing happened.",
        "type": "object",
        "properties": {
            "complaint_id": {"type": "string", "format": "uuid", "title": "Complaint Id"},
            "count": {"type": "integer", "minimum": 0, "title": "Count"},
            "severity": {"enum": ["low", "medium", "high"], "type": "string", "title": "Severity"},
            "note": {
                "anyOf": [{"type": "string", "maxLength": 100}, {"type": "null"}],
                "default": None,
                "title": "Note",
            },
            "price": {"$ref": "#/$defs/Money"},
        },
        "required": ["complaint_id", "count", "severity", "price"],
        "$defs": {
            "Money": {
                "type": "object",
                "title": "Money",
                "description": "An amount with its currency.",
                "properties": {
                    "amount": {"type": "string", "title": "Amount"},
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "title": "Currency"},
                },
                "required": ["amount", "currency"],
            }
        },
    }


def test_the_repository_root_is_found() -> None:
    assert (REPO_ROOT / "libs" / "common" / "complaints_common").is_dir()
    assert EVENTS_DIR.is_dir()


def test_the_committed_catalog_and_readme_tables_are_current() -> None:
    assert catalog.check(EVENTS_DIR, [REPO_ROOT / "README.md", EVENTS_DIR / "README.md"]) == []


def test_every_contract_has_a_committed_schema() -> None:
    for contract in CONTRACTS.values():
        path = EVENTS_DIR / "schemas" / catalog.schema_file(contract)
        schema = json.loads(path.read_text())
        assert schema["$id"] == contract.dataschema
        assert schema["x-cloudevents-type"] == contract.ce_type
        assert schema["x-kafka-topic"] == contract.topic.name


def test_the_asyncapi_document_lists_every_event() -> None:
    document = yaml.safe_load((EVENTS_DIR / "asyncapi.yaml").read_text())
    assert document["asyncapi"].startswith("3.")
    names = {message["name"] for message in document["components"]["messages"].values()}
    assert names == set(CONTRACTS)


def test_write_into_an_empty_directory_produces_a_current_catalog(tmp_path: Path) -> None:
    catalog.write(tmp_path)
    assert catalog.check(tmp_path) == []
    assert (tmp_path / "asyncapi.yaml").read_text() == (EVENTS_DIR / "asyncapi.yaml").read_text()


def test_check_reports_missing_files(tmp_path: Path) -> None:
    problems = catalog.check(tmp_path)
    assert len(problems) == len(catalog.generated_files(catalog.declared_services()))
    assert all("missing" in p for p in problems)


def test_check_reports_a_stale_file(tmp_path: Path) -> None:
    shutil.copytree(EVENTS_DIR, tmp_path, dirs_exist_ok=True)
    asyncapi = tmp_path / "asyncapi.yaml"
    asyncapi.write_text(asyncapi.read_text() + "# edited by hand\n")
    assert catalog.check(tmp_path) == ["asyncapi.yaml: out of date (run the catalog's write command)"]


def test_check_and_write_refuse_a_committed_schema_the_models_no_longer_honour(tmp_path: Path) -> None:
    shutil.copytree(EVENTS_DIR, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "schemas" / "complaint.created.v1.json"
    committed = json.loads(path.read_text())
    committed["properties"]["legacy_field"] = {"type": "string"}
    path.write_text(json.dumps(committed, indent=2, sort_keys=True) + "\n")

    problems = catalog.check(tmp_path)
    assert "schemas/complaint.created.v1.json: $.legacy_field: removed" in problems
    with pytest.raises(SystemExit, match="legacy_field: removed"):
        catalog.write(tmp_path)
    assert "legacy_field" in path.read_text(), "write must not overwrite an incompatible schema"


# --- incompatibilities --------------------------------------------------------------------------------


def test_identical_schemas_are_compatible() -> None:
    assert catalog.incompatibilities(_base(), _base()) == []


def test_a_removed_property_is_reported() -> None:
    new = _base()
    del new["properties"]["note"]
    assert catalog.incompatibilities(_base(), new) == ["$.note: removed"]


def test_a_removed_required_property_is_reported() -> None:
    new = _base()
    del new["properties"]["count"]
    new["required"].remove("count")
    problems = catalog.incompatibilities(_base(), new)
    assert "$.count: removed" in problems
    assert "$.count: no longer required" in problems


def test_a_newly_required_property_is_reported() -> None:
    new = _base()
    new["required"].append("note")
    assert catalog.incompatibilities(_base(), new) == ["$.note: newly required"]


def test_a_new_required_property_is_reported() -> None:
    new = _base()
    new["properties"]["channel"] = {"type": "string"}
    new["required"].append("channel")
    assert catalog.incompatibilities(_base(), new) == ["$.channel: newly required"]


def test_a_changed_type_is_reported() -> None:
    new = _base()
    new["properties"]["count"]["type"] = "string"
    assert catalog.incompatibilities(_base(), new) == ["$.count: 'type' changed"]


def test_a_changed_format_is_reported() -> None:
    new = _base()
    new["properties"]["complaint_id"]["format"] = "email"
    assert catalog.incompatibilities(_base(), new) == ["$.complaint_id: 'format' changed"]


def test_a_removed_enum_value_is_reported() -> None:
    new = _base()
    new["properties"]["severity"]["enum"] = ["low", "high"]
    assert catalog.incompatibilities(_base(), new) == ["$.severity: 'enum' changed"]


def test_an_added_enum_value_is_reported() -> None:
    new = _base()
    new["properties"]["severity"]["enum"] = ["low", "medium", "high", "critical"]
    assert catalog.incompatibilities(_base(), new) == ["$.severity: 'enum' changed"]


def test_an_optional_property_made_nullable_differently_is_reported() -> None:
    new = _base()
    new["properties"]["note"]["anyOf"] = [{"type": "integer"}, {"type": "null"}]
    assert catalog.incompatibilities(_base(), new) == ["$.note: 'anyOf' changed"]


def test_a_retargeted_reference_is_reported() -> None:
    new = _base()
    new["properties"]["price"] = {"$ref": "#/$defs/Price"}
    new["$defs"]["Price"] = copy.deepcopy(new["$defs"]["Money"])
    assert catalog.incompatibilities(_base(), new) == ["$.price: '$ref' changed"]


def test_changes_inside_a_definition_are_reported_with_their_path() -> None:
    new = _base()
    del new["$defs"]["Money"]["properties"]["currency"]
    new["$defs"]["Money"]["properties"]["amount"]["type"] = "number"
    problems = catalog.incompatibilities(_base(), new)
    assert "$.$defs.Money.currency: removed" in problems
    assert "$.$defs.Money.amount: 'type' changed" in problems


def test_a_removed_definition_is_reported() -> None:
    new = _base()
    del new["$defs"]["Money"]
    assert catalog.incompatibilities(_base(), new) == ["$.$defs.Money: removed"]


def test_a_new_optional_property_is_compatible() -> None:
    new = _base()
    new["properties"]["product"] = {
        "anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}],
        "default": None,
        "title": "Product",
    }
    assert catalog.incompatibilities(_base(), new) == []


def test_a_new_definition_is_compatible() -> None:
    new = _base()
    new["$defs"]["Address"] = {"type": "object", "properties": {"city": {"type": "string"}}}
    assert catalog.incompatibilities(_base(), new) == []


def test_changed_descriptions_titles_examples_and_defaults_are_compatible() -> None:
    new = _base()
    new["description"] = "A thing happened, described better."
    new["title"] = "Renamed"
    new["properties"]["count"]["description"] = "How many."
    new["properties"]["count"]["examples"] = [3]
    new["properties"]["note"]["default"] = "n/a"
    new["$defs"]["Money"]["description"] = "Decimals travel as strings."
    assert catalog.incompatibilities(_base(), new) == []


def test_the_real_schemas_are_compatible_with_themselves() -> None:
    for contract in CONTRACTS.values():
        schema = catalog.json_schema(contract)
        assert catalog.incompatibilities(schema, copy.deepcopy(schema)) == []


def test_a_changed_property_named_description_is_reported() -> None:
    old: dict[str, Any] = {
        "type": "object",
        "properties": {"description": {"type": "string", "maxLength": 500}},
        "required": ["description"],
    }
    new = copy.deepcopy(old)
    new["properties"]["description"] = {"type": "integer"}
    assert catalog.incompatibilities(old, new) != []


def test_retyping_offer_description_in_the_committed_schema_is_reported() -> None:
    committed = json.loads((EVENTS_DIR / "schemas" / "compensation.granted.v1.json").read_text())
    changed = copy.deepcopy(committed)
    changed["$defs"]["Offer"]["properties"]["description"] = {"type": "integer"}
    assert catalog.incompatibilities(committed, changed) != []


def test_a_removed_optional_property_named_title_is_reported() -> None:
    old = {"type": "object", "properties": {"title": {"type": "string"}, "x": {"type": "string"}}}
    new = {"type": "object", "properties": {"x": {"type": "string"}}}
    assert catalog.incompatibilities(old, new) == ["$.title: removed"]
