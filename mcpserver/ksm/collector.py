"""The cluster collector: one consistent snapshot per scrape, shared by concurrent scrapes.

A scrape first awaits `snapshot()`, then renders that snapshot's pieces in
worker threads (see `mcpserver.ksm.exposition`). Building a snapshot is the
expensive part — in objects mode, reading the pods of the store — so it
never runs on the event loop (the read happens in a worker thread, on its
own read-only connection, in one read transaction) and never runs twice at
once: a scrape that arrives while a build is in flight waits for that build
and renders the same snapshot. Two Prometheus replicas scraping together
cost one read. Between scrapes the collector keeps what does not change:
the decoded pods (`store.snapshot.ObjectsReader` re-reads only those whose
resourceVersion moved) and every object's rendered lines (`ObjectsCache`),
so a scrape costs in proportion to the churn since the previous one.

Which snapshot: `mode="objects"` reads the tables (kube-state-metrics
families), `mode="summary"` copies the store's in-memory aggregates
(bounded series), `mode="auto"` picks objects while the store holds at most
`objects_limit` objects, summary above.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Literal

import anyio

from mcpserver.errors import McpServerError
from mcpserver.ksm.families import MODE
from mcpserver.ksm.objects import ObjectsCache, Piece, objects_pieces
from mcpserver.ksm.summary import summary_pieces
from store import Kind, Store
from store.snapshot import AggregatesSnapshot, ObjectsReader, ObjectsSnapshot, take_aggregates

__all__ = [
    "DEFAULT_OBJECTS_LIMIT",
    "MODES",
    "ClusterCollector",
    "ClusterSnapshot",
    "MetricsMode",
    "SnapshotFailed",
]

log = logging.getLogger("kube_watchcache.metrics")

MetricsMode = Literal["auto", "objects", "summary"]
MODES: tuple[MetricsMode, ...] = ("auto", "objects", "summary")
DEFAULT_OBJECTS_LIMIT = 20_000

ReadObjects = Callable[[], ObjectsSnapshot]


class SnapshotFailed(McpServerError):
    """The store could not be read for a scrape; the cluster families are left out of it."""


@dataclasses.dataclass(frozen=True)
class ClusterSnapshot:
    """What one scrape (or several coalesced ones) exports about the cluster."""

    mode: Literal["objects", "summary"]
    objects: ObjectsSnapshot | None
    aggregates: AggregatesSnapshot | None
    seconds: float  # time to build it
    cache: ObjectsCache | None = None  # rendered lines kept across scrapes

    def pieces(self, *, openmetrics: bool) -> Iterator[Piece]:
        """The exposition, in order, as pieces to run in a worker thread each."""
        mode = (
            MODE.header(openmetrics=openmetrics)
            + f'kube_watchcache_metrics_cluster_mode{{mode="{self.mode}"}} 1\n'
        )
        yield lambda: mode
        if self.objects is not None:
            yield from objects_pieces(self.objects, openmetrics=openmetrics, cache=self.cache)
        if self.aggregates is not None:
            yield from summary_pieces(
                self.aggregates,
                openmetrics=openmetrics,
                cache=self.cache.summary_nodes if self.cache is not None else None,
            )


class _Build:
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: ClusterSnapshot | None = None
        self.error: BaseException | None = None
        self.waiters = 0


class ClusterCollector:
    """Builds cluster snapshots from `store`; see the module docstring.

    `read_objects` is the function that reads the tables (run in a worker
    thread): `reader.read` by default, an attribute so tests and benchmarks
    can wrap it. `enabled = False` leaves the cluster families out of
    scrapes (a standby replica, so that two replicas do not double every
    sum); the agent's own metrics are always exported.
    """

    def __init__(
        self,
        store: Store,
        *,
        mode: MetricsMode = "auto",
        objects_limit: int = DEFAULT_OBJECTS_LIMIT,
        on_build: Callable[[str, float], None] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"metrics mode must be one of {', '.join(MODES)}, got {mode!r}")
        if objects_limit < 0:
            raise ValueError(f"objects_limit must be >= 0, got {objects_limit}")
        self.store = store
        self.enabled = True
        self.mode: MetricsMode = mode
        self.objects_limit = objects_limit
        self.reader = ObjectsReader(store.path)
        self.read_objects: ReadObjects = self.reader.read
        self.cache = ObjectsCache()
        self.builds: Counter[str] = Counter()  # by mode
        self.coalesced = 0  # scrapes served by a build another scrape started
        self.failures = 0
        self._on_build = on_build
        self._inflight: _Build | None = None
        self._joined = anyio.Event()

    def effective_mode(self) -> Literal["objects", "summary"]:
        """The mode the next snapshot uses (auto decides on the store's current object count)."""
        if self.mode != "auto":
            return self.mode
        view = self.store.view
        count = sum(view.objects(k) for k in Kind)
        return "objects" if count <= self.objects_limit else "summary"

    @property
    def waiting(self) -> int:
        """Scrapes currently waiting on another scrape's build."""
        return self._inflight.waiters if self._inflight is not None else 0

    async def until_waiting(self, count: int) -> None:
        """Until `count` scrapes wait on the build in flight (tests and benchmarks)."""
        while self.waiting < count:
            await self._joined.wait()

    async def snapshot(self) -> ClusterSnapshot:
        """A fresh snapshot, or the one being built right now; raises SnapshotFailed."""
        build = self._inflight
        if build is not None:
            self.coalesced += 1
            build.waiters += 1
            self._joined.set()
            self._joined = anyio.Event()
            await build.done.wait()
            if build.result is None:
                raise SnapshotFailed(str(build.error)) from build.error
            return build.result
        build = self._inflight = _Build()
        try:
            # Shielded: if the scrape that started the build goes away, the
            # build still completes for the scrapes waiting on it.
            with anyio.CancelScope(shield=True):
                result = build.result = await self._build()
        except Exception as e:
            build.error = e
            self.failures += 1
            raise SnapshotFailed(str(e)) from e
        finally:
            self._inflight = None
            build.done.set()
        return result

    async def _build(self) -> ClusterSnapshot:
        mode = self.effective_mode()
        started = time.perf_counter()
        objects = aggregates = None
        if mode == "objects":
            objects = await anyio.to_thread.run_sync(self.read_objects)
        else:
            aggregates = take_aggregates(self.store.view)
            if self.builds["objects"]:
                # Objects mode is not in use now: give back what it keeps between scrapes.
                self.reader.forget()
                self.cache.clear()
        seconds = time.perf_counter() - started
        self.builds[mode] += 1
        if self._on_build is not None:
            self._on_build(mode, seconds)
        return ClusterSnapshot(
            mode=mode, objects=objects, aggregates=aggregates, seconds=seconds, cache=self.cache
        )
