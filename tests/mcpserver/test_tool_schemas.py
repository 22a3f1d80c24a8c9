"""The published schemas get smaller and keep their meaning: same answers valid, same arguments."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from mcpserver.surface.tool_schemas import compact_schema, reflow

OUTPUT: dict[str, Any] = {
    "title": "Answer",
    "type": "object",
    "properties": {
        "title": {"title": "Title", "type": "string"},  # a field named "title" stays
        "since": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "group": {"anyOf": [{"$ref": "#/$defs/Group"}, {"type": "null"}]},
        "labels": {"additionalProperties": True, "type": "object"},
    },
    "required": ["title"],
    "$defs": {
        "Group": {"title": "Group", "type": "object", "properties": {"n": {"type": "integer"}}}
    },
}


def test_output_schema_loses_padding_not_meaning() -> None:
    small = compact_schema(OUTPUT, output=True)
    assert small["properties"]["title"] == {"type": "string"}
    assert small["properties"]["since"] == {"type": ["string", "null"]}
    assert small["properties"]["group"]["anyOf"][1] == {"type": "null"}
    assert small["properties"]["labels"] == {"type": "object"}
    assert "title" not in small
    assert "title" not in small["$defs"]["Group"]
    for answer in (
        {"title": "a", "since": None, "group": None},
        {"title": "a", "since": "2026-01-01T00:00:00Z", "group": {"n": 1}, "labels": {"x": 1}},
    ):
        jsonschema.validate(answer, OUTPUT)
        jsonschema.validate(answer, small)
    for wrong in ({"since": None}, {"title": "a", "since": 3}, {"title": "a", "group": {"n": "x"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, OUTPUT)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, small)


def test_optional_argument_is_published_as_its_type() -> None:
    argument = {
        "anyOf": [{"enum": ["Pod", "Node"], "type": "string"}, {"type": "null"}],
        "default": None,
        "description": "only this kind",
        "title": "Kind",
    }
    assert compact_schema(argument, output=False) == {
        "enum": ["Pod", "Node"],
        "type": "string",
        "description": "only this kind",
    }
    assert compact_schema({"default": 50, "type": "integer"}, output=False) == {
        "default": 50,
        "type": "integer",
    }


def test_reflow_joins_docstring_lines_and_keeps_list_lines() -> None:
    doc = """One pod in detail: status,
        containers and conditions.

        Tables:
        - pods: uid, name
        - nodes: uid
        """
    assert reflow(doc) == (
        "One pod in detail: status, containers and conditions.\n\n"
        "Tables:\n- pods: uid, name\n- nodes: uid"
    )
