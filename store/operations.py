"""What the informers hand the single writer, and the checks made before it is queued.

The writer's queue carries these items in the order they happened; each
weighs as many rows as it carries (`weight_of`), because the queue is bounded in
rows, not items. A delta is validated when it is handed over, in the
informer's call, so bad input fails there with a clear error instead of
inside the writer task, where it would spoil a whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import msgspec

from store.errors import InvalidRow
from store.model import ROW_TYPES, Delta, Kind, Row, Transition

__all__ = [
    "Apply",
    "Flush",
    "Op",
    "Put",
    "PutMany",
    "Replace",
    "ReplaceBegin",
    "ReplaceEnd",
    "Sync",
    "validate",
    "validate_row",
    "weight_of",
]

_EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED"})
_ROW_TYPE_OF: dict[Any, type] = dict(ROW_TYPES)


class Put(msgspec.Struct):
    delta: Delta


class PutMany(msgspec.Struct):
    """What one `put_many` handed over: one queue item, weighing as many rows as deltas."""

    deltas: list[Delta]


class Replace(msgspec.Struct):
    kind: Kind
    rows: Sequence[Row]
    resource_version: str


class ReplaceBegin(msgspec.Struct):
    kind: Kind


class ReplaceEnd(msgspec.Struct):
    kind: Kind
    resource_version: str


class Sync(msgspec.Struct):
    kind: Kind
    resource_version: str | None
    synced: bool | None
    listed: bool
    error: str | None


class Flush(msgspec.Struct):
    done: anyio.Event
    error: BaseException | None = None


class Apply(msgspec.Struct):
    deltas: Sequence[Delta]
    done: anyio.Event
    result: list[Transition] = []
    error: BaseException | None = None


Op = Put | PutMany | Replace | ReplaceBegin | ReplaceEnd | Sync | Flush | Apply


def weight_of(op: Op) -> int:
    if isinstance(op, PutMany):
        return len(op.deltas)
    if isinstance(op, Replace):
        return max(1, len(op.rows))
    if isinstance(op, Apply):
        return max(1, len(op.deltas))
    return 1


def validate(delta: Delta) -> None:
    # The common case in a few identity checks; anything unusual takes the full path.
    if (
        type(delta) is Delta
        and type(delta.row) is _ROW_TYPE_OF.get(delta.kind)
        and delta.type in _EVENT_TYPES
        and delta.row.uid
    ):
        return
    _validate_slowly(delta)


def _validate_slowly(delta: Delta) -> None:
    if not isinstance(delta, Delta):
        raise InvalidRow(f"expected a Delta, got {type(delta).__name__}")
    if delta.type not in _EVENT_TYPES:
        raise InvalidRow(f"unknown event type {delta.type!r} (expected ADDED, MODIFIED or DELETED)")
    validate_row(delta.kind, delta.row)


def validate_row(kind: Kind, row: Row) -> None:
    expected = ROW_TYPES.get(kind)
    if expected is None:
        raise InvalidRow(f"unknown kind {kind!r}")
    if not isinstance(row, expected):
        raise InvalidRow(
            f"a {kind.value} delta needs a {expected.__name__}, got {type(row).__name__}"
        )
    if not row.uid:
        raise InvalidRow(f"{kind.value} {row.namespace}/{row.name} has no uid")
