"""The contract types stay out of the cyclic garbage collector (see store.model)."""

from __future__ import annotations

import gc

from store import Delta, Kind, Severity, Transition
from tests.store.factories import container, pod


def test_rows_deltas_and_transitions_are_not_tracked_by_the_collector() -> None:
    row = pod("web-1", containers=(container("app"),))
    transition = Transition(
        at=1.0,
        kind=Kind.POD,
        namespace="default",
        name="web-1",
        uid=row.uid,
        field="restarts",
        old="0",
        new="1",
        severity=Severity.WARNING,
    )
    for value in (row, row.containers[0], Delta(Kind.POD, "MODIFIED", row), transition):
        assert not gc.is_tracked(value), type(value).__name__
