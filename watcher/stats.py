"""Counters of what the informers did, for logs, tests and the metrics exporter.

Plain integers keyed by tuples, updated on the event loop without locks; the
Prometheus collector reads `snapshot()` (a copy), never the live dicts. Keys:

- `requests[(kind, verb, result)]`: verb `list` (one per page), `watch`,
  `stream-list`; result `ok` or an HTTP status / `transport` / `timeout`.
- `restarts[(kind, reason)]`: why a watch was re-established: `closed` (clean
  end, resumed), `gone` (410 -> relist), `continue-gone` (410 on a page ->
  list restarted), `too-large` (504 "Too large resource version" -> relist),
  `history-reset` (a resourceVersion went backwards, or the store saw events
  of another history -> relist), `silent`
  (no event nor bookmark for well beyond the server's bookmark cadence),
  `stalled` (the inactivity timeout), `malformed`, `throttled`, `error`.
- `events[(kind, type)]`: ADDED, MODIFIED, DELETED, BOOKMARK, ERROR received.
- `relists[kind]`: completed lists (initial and after 410).
- `relist_reasons[(kind, reason)]`: the same lists by why they happened:
  `initial` (start-up), `gone` (a 410: the resourceVersion expired),
  `too-large` (the server has not reached our resourceVersion),
  `history-reset` (resourceVersions went backwards: a restored or replaced
  control plane; also a list that came back older than what was held, and
  an update or delete for a uid not held under a held name, which one
  history never sends),
  `requested` (the store asked, e.g. after a reset or a dropped batch).
- `skipped[kind]`: objects that could not be read (logged and left out).
- `link_overflow`: pods dropped from the deployment fix-up set.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

__all__ = ["WatchStats"]


@dataclasses.dataclass
class WatchStats:
    requests: Counter[tuple[str, str, str]] = dataclasses.field(default_factory=Counter)
    restarts: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    events: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    relists: Counter[str] = dataclasses.field(default_factory=Counter)
    relist_reasons: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)
    link_overflow: int = 0

    def snapshot(self) -> dict[str, Any]:
        """A copy safe to read from another task (or thread) while counting goes on."""
        return {
            "requests": dict(self.requests),
            "restarts": dict(self.restarts),
            "events": dict(self.events),
            "relists": dict(self.relists),
            "relist_reasons": dict(self.relist_reasons),
            "skipped": dict(self.skipped),
            "link_overflow": self.link_overflow,
        }

    def restarts_of(self, kind: str) -> dict[str, int]:
        return {reason: n for (k, reason), n in self.restarts.items() if k == kind}
