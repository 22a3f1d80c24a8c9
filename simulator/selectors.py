"""Label and field selectors, parsed the way the API server parses them.

Selectors are evaluated against a small per-version index (labels and the
selectable field values) rather than the decoded object, so that filtering a
100k-object list never decodes an object that does not match. Parse errors
become 400 BadRequest, as they do on a real cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import BadRequest
from .resources import ResourceInfo

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "field_values",
    "label_selector_string",
    "parse_field_selector",
    "parse_label_selector",
]

Operator = Literal["=", "!=", "in", "notin", "exists", "!", "gt", "lt"]

# A label key: optional DNS prefix and "/", then a name. Values: up to 63
# alphanumerics with -_. inside. Checked loosely, as an error message aid.
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One clause of a label selector; a selector is the AND of its clauses."""

    key: str
    op: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op == "=":
            return present and labels[self.key] == self.values[0]
        if self.op == "!=":
            return not present or labels[self.key] != self.values[0]
        if self.op == "in":
            return present and labels[self.key] in self.values
        if self.op == "notin":
            return not present or labels[self.key] not in self.values
        # gt / lt compare integers; a non-integer label never matches.
        if not present:
            return False
        try:
            have = int(labels[self.key])
        except ValueError:
            return False
        bound = int(self.values[0])
        return have > bound if self.op == "gt" else have < bound


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(req.matches(labels) for req in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside an `in (...)` value set."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise BadRequest(f"unable to parse requirement: unbalanced ')' in {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise BadRequest(f"unable to parse requirement: unbalanced '(' in {text!r}")
    parts.append("".join(current))
    return parts


def _check_key(key: str, clause: str) -> str:
    if not key or len(key) > 317 or not _KEY.match(key):
        raise BadRequest(f"unable to parse requirement: invalid label key {key!r} in {clause!r}")
    return key


def _check_value(value: str, clause: str) -> str:
    if len(value) > 63 or not _VALUE.match(value):
        raise BadRequest(
            f"unable to parse requirement: invalid label value {value!r} in {clause!r}"
        )
    return value


_SET_CLAUSE = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")
_BINARY_CLAUSE = re.compile(r"^\s*([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*?)\s*$")


def _parse_clause(clause: str) -> Requirement:
    stripped = clause.strip()
    if not stripped:
        raise BadRequest(f"unable to parse requirement: empty clause in selector {clause!r}")
    if m := _SET_CLAUSE.match(stripped):
        key = _check_key(m.group(1), clause)
        values = tuple(_check_value(v.strip(), clause) for v in m.group(3).split(","))
        op: Operator = "in" if m.group(2) == "in" else "notin"
        return Requirement(key, op, tuple(sorted(set(values))))
    if m := _BINARY_CLAUSE.match(stripped):
        key = _check_key(m.group(1), clause)
        raw_op, value = m.group(2), m.group(3)
        if raw_op in (">", "<"):
            if not re.fullmatch(r"-?\d+", value):
                raise BadRequest(
                    f"unable to parse requirement: for 'gt', 'lt' operators, "
                    f"the value must be an integer: {clause!r}"
                )
            return Requirement(key, "gt" if raw_op == ">" else "lt", (value,))
        value = _check_value(value, clause)
        return Requirement(key, "!=" if raw_op == "!=" else "=", (value,))
    if stripped.startswith("!"):
        return Requirement(_check_key(stripped[1:].strip(), clause), "!")
    return Requirement(_check_key(stripped, clause), "exists")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse `labelSelector`: `=`/`==`/`!=`, `in`/`notin`, `key`, `!key`, `>`/`<`."""
    if text is None or not text.strip():
        return LabelSelector(())
    return LabelSelector(tuple(_parse_clause(c) for c in _split_top_level(text)))


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """The AND of `field=value` / `field!=value` terms over selectable fields."""

    terms: tuple[tuple[str, bool, str], ...]  # (field, equal?, value)

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all((fields.get(name, "") == value) == equal for name, equal, value in self.terms)

    @property
    def empty(self) -> bool:
        return not self.terms


def parse_field_selector(text: str | None, info: ResourceInfo) -> FieldSelector:
    """Parse `fieldSelector`; a field this kind does not index is a 400, as upstream."""
    if text is None or not text.strip():
        return FieldSelector(())
    terms: list[tuple[str, bool, str]] = []
    for clause in text.split(","):
        m = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*", clause)
        if m is None:
            raise BadRequest(f"invalid selector: {clause!r}; can't understand {clause.strip()!r}")
        name, op, value = m.groups()
        if name not in info.selectable_fields:
            raise BadRequest(
                f'field label not supported: {name} (for "{info.kind}"; '
                f"supported: {', '.join(info.selectable_fields)})"
            )
        terms.append((name, op != "!=", value))
    return FieldSelector(tuple(terms))


def _paths(info: ResourceInfo) -> tuple[tuple[str, tuple[str, ...]], ...]:
    cached = _PATHS.get(info.plural)
    if cached is None:
        cached = tuple(
            (
                name,
                tuple(
                    (
                        "source.component" if (info.kind == "Event" and name == "source") else name
                    ).split(".")
                ),
            )
            for name in info.selectable_fields
        )
        _PATHS[info.plural] = cached
    return cached


_PATHS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}
_FALSE_WHEN_ABSENT = frozenset({"spec.hostNetwork", "spec.unschedulable"})


def field_values(info: ResourceInfo, obj: Mapping[str, Any]) -> dict[str, str]:
    """The selectable field values of one object version, as strings.

    Runs on every write, so it walks plain dicts without generic checks.
    """
    values: dict[str, str] = {}
    for name, path in _paths(info):
        node: Any = obj
        for part in path:
            node = node.get(part) if type(node) is dict else None
        if node is None:
            values[name] = "false" if name in _FALSE_WHEN_ABSENT else ""
        elif node is True or node is False:
            values[name] = "true" if node else "false"
        else:
            values[name] = node if type(node) is str else str(node)
    return values


def label_selector_string(selector: Mapping[str, Any] | None) -> str:
    """Render a `metav1.LabelSelector` as kubectl prints it (`<none>` when empty)."""
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, vals = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(vals)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(vals)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) if parts else "<none>"
