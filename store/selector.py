"""Kubernetes label selectors: parse `app=web,tier!=db,env in (a,b),!legacy`.

Supported, as in `kubectl -l`: `key=value` (also `==`), `key!=value`,
`key in (v1,v2)`, `key notin (v1,v2)`, `key` (exists), `!key` (does not
exist); requirements are ANDed. As in Kubernetes, `!=` and `notin` also
match objects that lack the key.

A parsed `Selector` evaluates in Python (`matches`) and in SQL over the
`labels` JSON column (`sql`); property tests hold the two to the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from store.errors import InvalidSelector

__all__ = ["Requirement", "Selector", "parse_selector"]

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
_KEY = re.compile(rf"(?:(?P<prefix>{_PREFIX})/)?{_NAME}")
_VALUE = re.compile(rf"(?:{_NAME})?")
_TOKEN = re.compile(r"\s*(?:(?P<op>!=|==|=|!|\(|\)|,)|(?P<word>[^\s!=(),]+))")

_OPS = ("=", "!=", "in", "notin", "exists", "!")


class Requirement(NamedTuple):
    key: str
    op: str  # one of _OPS
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        return not present or value not in self.values  # notin

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return f"!{self.key}"
        if self.op in ("=", "!="):
            return f"{self.key}{self.op}{self.values[0]}"
        return f"{self.key} {self.op} ({','.join(self.values)})"


class Selector(NamedTuple):
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def sql(self, column: str = "labels") -> tuple[str, list[Any]]:
        """A WHERE fragment and its parameters; `"1"` for the empty selector."""
        parts: list[str] = []
        params: list[Any] = []
        for r in self.requirements:
            path = f'$."{r.key}"'
            if r.op == "exists":
                parts.append(f"json_type({column}, ?) IS NOT NULL")
                params.append(path)
            elif r.op == "!":
                parts.append(f"json_type({column}, ?) IS NULL")
                params.append(path)
            elif r.op == "=":
                parts.append(f"json_extract({column}, ?) = ?")
                params += [path, r.values[0]]
            elif r.op == "!=":
                parts.append(f"json_extract({column}, ?) IS NOT ?")
                params += [path, r.values[0]]
            elif r.op == "in":
                marks = ",".join("?" * len(r.values))
                parts.append(f"json_extract({column}, ?) IN ({marks})")
                params += [path, *r.values]
            else:
                marks = ",".join("?" * len(r.values))
                parts.append(
                    f"(json_type({column}, ?) IS NULL "
                    f"OR json_extract({column}, ?) NOT IN ({marks}))"
                )
                params += [path, path, *r.values]
        return (" AND ".join(parts) or "1"), params

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _check_key(key: str, text: str) -> str:
    m = _KEY.fullmatch(key)
    if m is None or len(key) - len(m["prefix"] or "") > 64 or len(m["prefix"] or "") > 253:
        raise InvalidSelector(f"invalid label key {key!r} in selector {text!r}")
    return key


def _check_value(value: str, text: str) -> str:
    if len(value) > 63 or _VALUE.fullmatch(value) is None:
        raise InvalidSelector(f"invalid label value {value!r} in selector {text!r}")
    return value


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise InvalidSelector(f"unexpected character at {pos} in selector {text!r}")
        out.append(m["op"] or m["word"])
        pos = m.end()
    return out


def parse_selector(text: str | None) -> Selector:
    """Parse a label selector; None or "" selects everything. Raises InvalidSelector."""
    if text is None or not text.strip():
        return Selector()
    toks = _tokens(text)
    reqs: list[Requirement] = []
    i = 0

    def expect(what: str) -> str:
        nonlocal i
        if i >= len(toks):
            raise InvalidSelector(f"selector {text!r} ends early: expected {what}")
        tok = toks[i]
        i += 1
        return tok

    while True:
        tok = expect("a requirement")
        if tok == "!":
            reqs.append(Requirement(_check_key(expect("a key after '!'"), text), "!"))
        elif tok in ("=", "==", "!=", "(", ")", ","):
            raise InvalidSelector(f"unexpected {tok!r} in selector {text!r}: expected a key")
        else:
            key = _check_key(tok, text)
            nxt = toks[i] if i < len(toks) else ","
            if nxt == ",":
                reqs.append(Requirement(key, "exists"))
            elif nxt in ("=", "==", "!="):
                i += 1
                value = ""
                if i < len(toks) and toks[i] not in (",", "(", ")", "=", "==", "!=", "!"):
                    value = toks[i]
                    i += 1
                reqs.append(
                    Requirement(key, "!=" if nxt == "!=" else "=", (_check_value(value, text),))
                )
            elif nxt in ("in", "notin"):
                i += 1
                if expect("'('") != "(":
                    raise InvalidSelector(f"expected '(' after {nxt!r} in selector {text!r}")
                values: list[str] = []
                while True:
                    v = expect("a value or ')'")
                    if v == ")" and not values:
                        raise InvalidSelector(f"empty value set for {key!r} in selector {text!r}")
                    values.append(_check_value(v, text))
                    sep = expect("',' or ')'")
                    if sep == ")":
                        break
                    if sep != ",":
                        raise InvalidSelector(
                            f"expected ',' or ')' but got {sep!r} in selector {text!r}"
                        )
                reqs.append(Requirement(key, nxt, tuple(values)))
            else:
                raise InvalidSelector(f"unexpected {nxt!r} after key {key!r} in selector {text!r}")
        if i >= len(toks):
            break
        if expect("','") != ",":
            raise InvalidSelector(f"expected ',' between requirements in selector {text!r}")
    return Selector(tuple(reqs))
