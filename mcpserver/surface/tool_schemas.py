"""Small tool schemas: what `tools/list` hands the model, without pydantic's padding.

A client puts the whole `tools/list` into the model's context on every turn,
so its size is paid again and again. Pydantic's schemas carry a title per
property, `default: null` for every optional argument, `anyOf` for every
nullable value, and each tool repeats the parts they share (freshness,
findings, changes). `compact_tools` rewrites the published schemas only (the
SDK still validates arguments and answers with the pydantic models):

- input schemas: titles, `default: null` and `default: false` go; an
  optional argument is published as its plain type (omitting it is how a
  client says "any", or leaves a flag off);
  an argument's description is given once, by the first tool that has it;
- output schemas: titles and defaults go; `anyOf: [T, null]` becomes
  `type: [T, "null"]`, which validates the same answers;
- descriptions: a docstring's indentation and line breaks go (a list line,
  starting with "- ", keeps its own line);
- a shared part (`$defs` entry) is published in full by the first tool in
  the list that uses it; later tools publish it as an object whose
  description names that tool, and a description an output schema repeats
  word for word from an earlier one is left out.

The model reads the whole list, so it reads each part once.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable
from typing import Any

from mcp.server.mcpserver import MCPServer

__all__ = ["compact_schema", "compact_tools", "reflow"]

_NAME_MAPS = frozenset({"properties", "$defs", "patternProperties"})
_NULL = {"type": "null"}


def compact_schema(node: Any, *, output: bool) -> Any:
    """`node` without titles and, for outputs, defaults; nullable unions in short form."""
    if isinstance(node, list):
        return [compact_schema(item, output=output) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "default" and (output or value is None or value is False):
            continue
        if key == "additionalProperties" and value is True:
            continue  # the default
        if key in _NAME_MAPS and isinstance(value, dict):  # keys are names, not keywords
            out[key] = {name: compact_schema(sub, output=output) for name, sub in value.items()}
        else:
            out[key] = compact_schema(value, output=output)
    return _short_nullable(out, output=output)


def _short_nullable(node: dict[str, Any], *, output: bool) -> dict[str, Any]:
    branches = node.get("anyOf")
    if not (isinstance(branches, list) and len(branches) == 2 and _NULL in branches):
        return node
    other = branches[0] if branches[1] == _NULL else branches[1]
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    if not output and not set(rest) & set(other):
        return {**other, **rest}  # an optional argument: null and absent mean the same
    if output and set(other) == {"type"} and isinstance(other["type"], str):
        return {**rest, "type": [other["type"], "null"]}
    return node


def reflow(text: str) -> str:
    """A docstring as one line per paragraph; list lines ("- ...") stay lines of their own."""
    out: list[str] = []
    for line in inspect.cleandoc(text).splitlines():
        line = line.strip()
        if not line:
            out.append("")
        elif out and out[-1] and not line.startswith("- ") and not out[-1].startswith("- "):
            out[-1] += " " + line
        else:
            out.append(line)
    return "\n".join(out)


def _shared_once(schemas: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Publish each `$defs` entry in full once: in the first tool using it, in list order."""
    owner: dict[str, str] = {}
    for tool, schema in schemas:
        defs = schema.get("$defs", {})
        stubs = {}
        for name in defs:
            if name in owner:
                stubs[f"#/$defs/{name}"] = {"type": "object", "description": f"see {owner[name]}"}
            else:
                owner[name] = tool
        _replace_refs(schema, stubs)
        _drop_unreferenced(schema)
        if not defs:
            schema.pop("$defs", None)


def _replace_refs(node: Any, stubs: dict[str, dict[str, Any]]) -> None:
    """Put each stub where its `$ref` was, keeping what the referring place says itself."""
    if isinstance(node, list):
        for item in node:
            _replace_refs(item, stubs)
    elif isinstance(node, dict):
        stub = stubs.get(node.get("$ref", ""))
        if stub is not None:
            del node["$ref"]
            for key, value in stub.items():
                node.setdefault(key, value)
        for value in node.values():
            _replace_refs(value, stubs)


def _described_once(schemas: Iterable[dict[str, Any]]) -> None:
    """Leave out each output description already given, word for word, earlier in the list."""
    seen: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            text = node.get("description")
            if isinstance(text, str):
                if text in seen:
                    del node["description"]
                seen.add(text)
            for key, value in node.items():
                if key in _NAME_MAPS and isinstance(value, dict):
                    for sub in value.values():
                        walk(sub)
                elif key != "description":
                    walk(value)

    for schema in schemas:
        walk(schema)


def _drop_unreferenced(schema: dict[str, Any]) -> None:
    """Remove `$defs` entries nothing refers to any more (a stub's own parts)."""
    defs = schema.get("$defs")
    if not defs:
        return
    while True:
        text = json.dumps({k: v for k, v in schema.items() if k != "$defs"}) + json.dumps(defs)
        unused = [name for name in defs if f'"#/$defs/{name}"' not in text]
        if not unused:
            return
        for name in unused:
            del defs[name]


def compact_tools(mcp: MCPServer[Any], names: Iterable[str]) -> None:
    """Rewrite the published schemas of the tools `names`, in that (the listing's) order."""
    inputs: list[dict[str, Any]] = []
    outputs: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        # The SDK keeps the published schemas on its Tool objects and reads them live
        # (FuncMetadata documents reassigning them); there is no public setter.
        tool = mcp._tool_manager.get_tool(name)
        if tool is None:
            raise KeyError(f"tool {name!r} is not registered")
        tool.description = reflow(tool.description)
        tool.parameters = compact_schema(tool.parameters, output=False)
        inputs.append(tool.parameters)
        if tool.fn_metadata.output_schema is not None:
            schema = compact_schema(tool.fn_metadata.output_schema, output=True)
            tool.fn_metadata.output_schema = schema
            outputs.append((name, schema))
    _shared_once(outputs)
    _described_once(inputs)
    _described_once(schema for _, schema in outputs)
