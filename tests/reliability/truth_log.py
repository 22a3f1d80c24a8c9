"""The simulator's truth over time, per kind, and the rule a sampled answer is judged by.

`TruthLog` listens to the simulator's object store and records, after every
committed change of a stored kind, that kind's whole set of objects as keys
(namespace, name, uid, resourceVersion) with the monotonic time of the
change. A kind's truth between two of its changes is the earlier one's set,
so the log answers "which sets of pods did the cluster hold during [a, b]"
exactly.

Per kind, because each kind comes through its own watch: the store's pods
can be a few events ahead of its nodes, so the store as a whole may equal
no single moment of the cluster while every kind equals a recent one.

`judge` applies the rule of tests/reliability/test_truth_sampling.py to one
sampled answer: stale, or every kind equal to its truth at some moment of
[asked - bound, answered].
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.server import Simulator

__all__ = ["KINDS", "Judgement", "Key", "Sample", "TruthLog", "judge"]

# (namespace, name, uid, resourceVersion): a history reset keeps names and
# changes uids, so a name-only comparison would call the old objects right.
Key = tuple[str, str, str, str]
KINDS = {"pods": "pod", "deployments": "deployment", "nodes": "node"}


class _KindLog:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.sets: list[frozenset[Key]] = []

    def record(self, at: float, keys: frozenset[Key]) -> None:
        if not self.sets or self.sets[-1] != keys:
            self.times.append(at)
            self.sets.append(keys)

    def held_during(self, keys: frozenset[Key], start: float, end: float) -> float | None:
        """The latest end of a time `keys` was this kind's truth within [start, end] (None: not)."""
        first = max(0, bisect.bisect_right(self.times, start) - 1)
        latest = None
        for i in range(first, len(self.times)):
            if self.times[i] > end:
                break
            if self.sets[i] == keys:
                latest = self.times[i + 1] if i + 1 < len(self.times) else end
        return latest

    def last_held(self, keys: frozenset[Key], *, before: float) -> float:
        """Seconds from the end of the last time `keys` was the truth to `before` (inf: never)."""
        for i in range(len(self.sets) - 1, -1, -1):
            if self.sets[i] == keys:
                ended = self.times[i + 1] if i + 1 < len(self.times) else before
                return max(0.0, before - ended)
        return float("inf")


class TruthLog:
    """Every object set each stored kind held in the simulator since the log started."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.kinds = {kind: _KindLog() for kind in KINDS.values()}
        for resource in KINDS:
            self._record(resource)
        sim.store.add_listener(self._on_change)

    def _on_change(self, _type: str, resource: str, _obj: Any) -> None:
        if resource in KINDS:
            self._record(resource)

    def _record(self, resource: str) -> None:
        keys = frozenset(
            (
                obj["metadata"].get("namespace") or "",
                obj["metadata"]["name"],
                obj["metadata"]["uid"],
                str(obj["metadata"]["resourceVersion"]),
            )
            for obj in self.sim.store.list(resource)
        )
        self.kinds[KINDS[resource]].record(time.monotonic(), keys)

    def close(self) -> None:
        self.sim.store.remove_listener(self._on_change)

    def now(self) -> dict[str, frozenset[Key]]:
        return {kind: log.sets[-1] for kind, log in self.kinds.items()}


@dataclass
class Sample:
    """One answer: when it was asked and answered (monotonic), and what it said, per kind."""

    asked: float
    answered: float
    stale: bool
    keys: Mapping[str, frozenset[Key]]
    reasons: list[str] = field(default_factory=list)


@dataclass
class Judgement:
    verdict: Literal["stale", "equal", "wrong"]
    lag: float = 0.0  # how long before it was asked the truth last was what a fresh answer said
    detail: str = ""


def judge(sample: Sample, truth: TruthLog, *, bound: float) -> Judgement:
    """Stale, or each kind equal to its truth at some moment of [asked - bound, answered]."""
    if sample.stale:
        return Judgement("stale")
    lag = 0.0
    for kind, log in truth.kinds.items():
        keys = sample.keys.get(kind, frozenset())
        ended = log.held_during(keys, sample.asked - bound, sample.answered)
        if ended is None:
            old = log.last_held(keys, before=sample.asked)
            now = log.sets[-1]
            return Judgement(
                "wrong",
                lag=old,
                detail=f"fresh {kind}s equal to the truth of {old:.3f} s before the answer "
                f"was asked (bound {bound:.3f} s): against the truth they lack "
                f"{sorted(now - keys)[:2]} and hold {sorted(keys - now)[:2]}",
            )
        lag = max(lag, sample.asked - ended)
    return Judgement("equal", lag=lag)
