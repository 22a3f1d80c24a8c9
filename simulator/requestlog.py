"""Counts of the requests the simulator answered, by verb and resource.

Tests of the agent's read path assert that a query was answered from the
local cache, i.e. that *zero* requests reached the API server; this is the
ledger they read.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["RequestLog"]


class RequestLog:
    """`(verb, resource)` -> count; non-resource paths count under their path."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, *, verb: str, resource: str) -> None:
        self._counts[(verb, resource)] += 1

    def count(self, *, verb: str | None = None, resource: str | None = None) -> int:
        return sum(
            n
            for (v, r), n in self._counts.items()
            if (verb is None or v == verb) and (resource is None or r == resource)
        )

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def snapshot(self) -> dict[tuple[str, str], int]:
        return dict(self._counts)

    def clear(self) -> None:
        self._counts.clear()
