"""Store versus simulator: object by object, and transition by transition.

Every reliability test ends the same way: the faults are off, the informers
have had their chance, and the store must hold exactly the simulator's
objects (every status column, via `tests.watcher.cluster.differences`) and
exactly the transitions a fault-free run would have recorded, none lost and
none twice. The expected history is computed, not written down: every
change the simulator commits is recorded in order (`ChangeLog`) and applied
once to a second, fault-free store, whose transitions are the reference.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import msgspec

from kinds import KINDS
from kinds.meta import KubeObject
from simulator.server import Simulator
from store.model import Delta, Kind, Transition
from store.service import Store, open_store
from tests.watcher.cluster import PLURAL, differences, expected_rows
from tests.watcher.conftest import store_rows

__all__ = [
    "ALL_KINDS",
    "ChangeLog",
    "Comparison",
    "HistoryCheck",
    "check_history",
    "compare",
    "converge",
    "history_after",
    "last_history_id",
]

ALL_KINDS = (Kind.POD, Kind.DEPLOYMENT, Kind.NODE)
_BY_PLURAL = {plural: kind for kind, plural in PLURAL.items()}
TransitionKey = tuple[str, str, str, str, str | None, str | None]


@dataclass
class Comparison:
    """What one store-versus-simulator comparison found."""

    objects: int = 0
    mismatches: list[str] = field(default_factory=list)


@dataclass
class HistoryCheck:
    """Transitions expected (from the reference store) against those recorded."""

    expected: int
    recorded: int
    lost: list[TransitionKey]
    duplicated: list[TransitionKey]

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicated


async def compare(store: Store, sim: Simulator, kinds: Iterable[Kind] = ALL_KINDS) -> Comparison:
    """Flush the writer, then diff every object of every kind on every status column."""
    await store.writer.flush()
    out = Comparison()
    for kind in kinds:
        want = expected_rows(sim, kind)
        out.objects += len(want)
        out.mismatches += differences(want, await store_rows(store.reader, kind), kind)
    return out


async def converge(
    store: Store, sim: Simulator, *, within: float, kinds: Iterable[Kind] = ALL_KINDS
) -> Comparison:
    """Wait until `compare` finds nothing; on timeout return the last differences.

    Wakes on each commit of the writer (not on a timer): a comparison can only
    change its answer after something new was written.
    """
    kinds = tuple(kinds)
    committed = anyio.Event()

    def on_commit(_rows: int, _seconds: float) -> None:
        committed.set()

    unsubscribe = store.writer.on_commit(on_commit)
    result = Comparison()
    try:
        with anyio.move_on_after(within):
            while True:
                committed = anyio.Event()
                result = await compare(store, sim, kinds)
                if not result.mismatches:
                    return result
                await committed.wait()
    finally:
        unsubscribe()
    return result


class ChangeLog:
    """Every committed change of the watched kinds in the simulator, as store deltas, in order.

    Start it after the cluster is populated: it begins with the current
    objects as ADDED, which is what the informers' first list delivers.
    """

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.initial: list[Delta] = []
        self.deltas: list[Delta] = []
        for kind, plural in PLURAL.items():
            spec = KINDS[plural]
            for entry in sim.store.entries(plural):
                row = spec.normalize(msgspec.json.decode(entry.raw, type=KubeObject))
                self.initial.append(Delta(kind, "ADDED", row))
        sim.store.add_listener(self._on_change)

    def _on_change(self, event_type: str, resource: str, obj: Any) -> None:
        kind = _BY_PLURAL.get(resource)
        if kind is None or event_type not in ("ADDED", "MODIFIED", "DELETED"):
            return
        decoded = msgspec.json.decode(msgspec.json.encode(obj), type=KubeObject)
        row = KINDS[resource].normalize(decoded)
        self.deltas.append(Delta(kind, event_type, row))  # type: ignore[arg-type]

    def close(self) -> None:
        self.sim.store.remove_listener(self._on_change)

    async def reference(self, path: Path) -> list[Transition]:
        """The transitions a store records given each change once, in order, after the start."""
        async with open_store(path) as ref:
            await ref.writer.apply(self.initial)
            out: list[Transition] = []
            for delta in self.deltas:
                out += await ref.writer.apply([delta])
            return out


async def last_history_id(store: Store) -> int:
    """The newest history row id (0 when empty): the baseline before a test's changes."""
    await store.writer.flush()
    newest = await store.reader.history(limit=1)
    return (newest[0].id or 0) if newest else 0


async def history_after(store: Store, after_id: int) -> list[Transition]:
    """Every transition recorded after `after_id`, oldest first (paged through the reader)."""
    await store.writer.flush()
    out: list[Transition] = []
    before: int | None = None
    while True:
        page = await store.reader.history(before_id=before, limit=500)
        fresh = [t for t in page if (t.id or 0) > after_id]
        out += fresh
        if len(fresh) < len(page) or len(page) < 500:
            break
        before = page[-1].id
    return list(reversed(out))


def _key(t: Transition) -> TransitionKey:
    return (str(t.kind), t.namespace, t.name, t.field, t.old, t.new)


def check_history(expected: list[Transition], recorded: list[Transition]) -> HistoryCheck:
    """Multiset difference by (kind, namespace, name, field, old, new): `at` and ids differ."""
    want = Counter(_key(t) for t in expected)
    have = Counter(_key(t) for t in recorded)
    return HistoryCheck(
        expected=len(expected),
        recorded=len(recorded),
        lost=sorted((want - have).elements()),
        duplicated=sorted((have - want).elements()),
    )
