"""What counts as a status change, and how bad the new value is: generic over the kinds.

Each kind reduces a row to a *signature* (`KindSpec.signature`): a small
tuple of exactly the fields it tracks. The writer keeps the signature of
every object it holds, so deciding that a MODIFIED event changed nothing
that matters is one tuple comparison; only when signatures differ are they
expanded into named fields (`KindSpec.fields`) and compared one by one. Each
kind module documents its field names, as they appear in `Transition.field`;
any kind also has `deleted` (old: the last derived status, new: None).

A first sighting records only the fields whose value is abnormal (warning or
critical), so listing 150k healthy pods writes no history; counters (a
pod's restarts) are never recorded on first sight (those restarts happened
before we looked), and afterwards only when they rise.
"""

from __future__ import annotations

from typing import Any

from kinds.common import Change, Severity
from kinds.names import Kind
from kinds.registry import STORED
from kinds.spec import KindSpec, Signature

__all__ = [
    "Change",
    "changes_between",
    "changes_by_fields",
    "deletion_change",
    "first_sight_changes",
    "signature",
]


def signature(kind: Kind, row: Any) -> Signature:
    """The tracked status of one row, as a hashable tuple."""
    return STORED[kind].signature(row)


def changes_between(kind: Kind, old: Signature, new: Signature, row: Any) -> list[Change]:
    """Every tracked field that differs between two signatures of one object."""
    if old == new:
        return []
    spec = STORED[kind]
    if spec.changes is not None:
        fast = spec.changes(old, new, row)
        if fast is not None:
            return fast
    return changes_by_fields(spec, old, new, row)


def changes_by_fields(
    spec: KindSpec[Any], old: Signature, new: Signature, row: Any
) -> list[Change]:
    """`changes_between` by the generic route: the named fields compared one by one."""
    before, after = spec.fields(old), spec.fields(new)
    out: list[Change] = []
    for field, value in after.items():
        prev = before.get(field)
        if prev != value:
            change = _change(spec, field, prev, value, new, row)
            if change is not None:
                out.append(change)
    for field, prev in before.items():
        if field not in after and prev is not None:
            out.append(Change(field, prev, None, Severity.INFO, "", "container gone"))
    return out


def _change(
    spec: KindSpec[Any], field: str, prev: str | None, value: str | None, new: Signature, row: Any
) -> Change | None:
    """The Change of one field whose text differs, or None if it is not news."""
    counter = spec.counters.get(field)
    if counter is not None and int(value or 0) <= int(prev or 0):
        return None
    reason, message = spec.explain(field, value, row)
    if counter is not None:
        message = f"{counter} {prev} -> {value}"
    return Change(field, prev, value, spec.severity(field, value, new), reason, message)


def first_sight_changes(kind: Kind, new: Signature, row: Any) -> list[Change]:
    """An object seen for the first time: only its abnormal values are news."""
    spec = STORED[kind]
    if spec.plainly_healthy is not None and spec.plainly_healthy(new):
        return []
    out: list[Change] = []
    for field, value in spec.fields(new).items():
        if field in spec.counters or value is None:
            continue
        severity = spec.severity(field, value, new)
        if severity is not Severity.INFO:
            reason, message = spec.explain(field, value, row)
            out.append(Change(field, None, value, severity, reason, message))
    return out


def deletion_change(kind: Kind, last_status: str | None) -> Change:
    return Change("deleted", last_status, None, STORED[kind].deletion_severity, "Deleted", "")
