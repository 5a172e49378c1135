"""gameday/journal.schema.json describes Journal.to_dict() for readers outside Python: its
properties and required lists follow the dataclasses, its enums follow Phase, Category, Result
and Figure, and real journals validate against it (with jsonschema where it is installed,
else with the small validator below, which knows the keywords the schema uses)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from gameday.journal import (
    SCHEMA_FILE,
    SCHEMA_VERSION,
    Category,
    Failure,
    Figure,
    Journal,
    Phase,
    PhaseRecord,
    Result,
)
from suites.reports.conftest import db_down, session_journals

pytestmark = pytest.mark.report

SCHEMA = json.loads(SCHEMA_FILE.read_text())
TYPES: dict[str, Any] = {"object": dict, "array": list, "string": str, "boolean": bool,
                         "number": (int, float), "integer": int, "null": type(None)}


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("number", "integer"):
        return False
    return isinstance(value, TYPES[kind])


def errors(value: Any, schema: dict, where: str = "$") -> list[str]:
    """Where `value` breaks `schema`: type, enum, const, properties, required,
    additionalProperties, propertyNames, items, anyOf and local $ref."""
    if "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].removeprefix("#/$defs/")]
    found: list[str] = []
    kinds = schema.get("type")
    if kinds and not any(_is(value, k) for k in ([kinds] if isinstance(kinds, str) else kinds)):
        return [f"{where}: {value!r} is not {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "anyOf" in schema and all(errors(value, s, where) for s in schema["anyOf"]):
        found.append(f"{where}: matches none of anyOf")
    if isinstance(value, dict):
        found += [f"{where}: {key!r} missing" for key in schema.get("required", [])
                  if key not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if "propertyNames" in schema:
                found += errors(key, schema["propertyNames"], f"{where} key")
            if key in properties:
                found += errors(item, properties[key], f"{where}.{key}")
            elif extra is False:
                found.append(f"{where}: {key!r} is not allowed")
            elif isinstance(extra, dict):
                found += errors(item, extra, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += errors(item, schema["items"], f"{where}[{i}]")
    return found


def validate(document: dict) -> list[str]:
    try:
        import jsonschema
    except ImportError:
        return errors(document, SCHEMA)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


@pytest.mark.parametrize(("cls", "schema"), [
    (Journal, SCHEMA), (PhaseRecord, SCHEMA["$defs"]["phase_record"]),
    (Failure, SCHEMA["$defs"]["failure"])], ids=["Journal", "PhaseRecord", "Failure"])
def test_schema_properties_follow_the_dataclass(cls, schema) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    assert list(schema["properties"]) == names
    assert schema["required"] == names  # to_dict always writes every field
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(("enum", "name"), [(Phase, "phase"), (Category, "category"),
                                            (Result, "result"), (Figure, "figure")])
def test_schema_enums_follow_the_journal(enum, name) -> None:
    assert SCHEMA["$defs"][name]["enum"] == [member.value for member in enum]


def test_schema_names_its_draft_and_version() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["properties"]["schema_version"]["const"] == SCHEMA_VERSION


@pytest.mark.parametrize("journal", session_journals(), ids=lambda j: j.file_name())
def test_journals_validate_as_written(journal) -> None:
    document = json.loads(journal.to_json())  # what a reader outside Python gets
    assert validate(document) == []
    assert validate(journal.to_dict()) == []
    assert Journal.from_dict(document) == journal


def test_the_validator_catches_what_drifts() -> None:
    document = json.loads(db_down().to_json())
    document["phases"][0]["name"] = "warm-up"
    del document["failure"]
    document["figures"]["alert_floor"] = 8.25  # the figure's name before it was renamed
    document["surprise"] = 1
    found = errors(document, SCHEMA)
    assert any("'warm-up'" in e for e in found)
    assert any("'failure' missing" in e for e in found)
    assert any("'alert_floor'" in e for e in found)
    assert any("'surprise' is not allowed" in e for e in found)
    assert errors({**json.loads(db_down().to_json()), "schema_version": 1}, SCHEMA)
