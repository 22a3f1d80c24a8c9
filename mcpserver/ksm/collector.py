"""The cluster collector: one consistent snapshot per scrape, shared by concurrent scrapes.

A scrape first awaits `snapshot()`, then renders that snapshot (see
`mcpserver.ksm.exposition`). A build never runs twice at once: a scrape
that arrives while one is in flight waits for it and renders the same
snapshot, so two Prometheus replicas scraping together cost one read.

Which snapshot: `mode="objects"` (kube-state-metrics families, one series
per object), `mode="summary"` (bounded aggregates), `mode="auto"` objects
while the store holds at most `objects_limit` objects, summary above — a
summary that keeps the families kubernetes-mixin's alerts need (the small
kinds whole, pods only when they need attention: see
`mcpserver.ksm.summary`), so a large cluster keeps its alerts.

Auto mode does not flap: it switches to summary as soon as the store holds
more than `objects_limit` objects (a scrape of every object is what the
limit guards against), but back to objects only once the count has stayed
at or below `objects_limit * LOW_WATER` for `DWELL_SECONDS` without a
break. Every switch drops or adds whole families (healthy pods' series go
away), which restarts the `for:` timers of the alerts on them; with a count
wandering around the limit that would happen at every scrape.

Where the work runs, and why (measured with benchmarks/metrics_bench.py):

- Summary mode copies the store's in-memory aggregates on the event loop
  (the only place where they are one committed version) and renders a few
  thousand lines: milliseconds even at 150k pods, so it stays in process.
- Objects mode reads every pod that changed since the previous scrape and
  renders and compresses 30 MB of text per 10k pods. In process, a scrape
  every second cost ingestion 26% at 10k pods: under churn most pods change
  between scrapes, and the decoding, rendering and joining are Python
  holding the agent's one GIL. So objects mode runs in a child process
  (`RenderWorker`, see `mcpserver.ksm.renderer`) that reads the SQLite file
  itself — one read transaction is one committed state (WAL: it neither
  waits for nor delays the writer) — and the agent only forwards the
  compressed body. The child also does kube-state-metrics' trick, one step
  further: it re-renders only the objects that changed and keeps every
  block of lines *compressed* (`mcpserver.ksm.blocks`), so an unchanged
  scrape is a join of bytes, not 0.2 s of gzip. Rejected: feeding the
  renderer a dirty set from the writer instead of reading the file (it
  would have to live in the agent's interpreter, costing GIL time per
  changed pod, and the re-read of changed rows is cheap next to that:
  `ObjectsReader` lists (uid, resourceVersion) and decodes only rows whose
  version moved). If no child can be started, the same renderer runs in a
  thread (`LocalRenderer`).

`enabled` (a bool, or a callable read at each scrape) leaves the cluster
families out: a standby replica exports only its own metrics, so that two
replicas behind one Service do not double every sum.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Literal

import anyio

from mcpserver.errors import McpServerError
from mcpserver.ksm.families import MODE
from mcpserver.ksm.objects import FragmentCache, Piece
from mcpserver.ksm.renderer import Built, RenderRequest, Scope
from mcpserver.ksm.summary import summary_pieces
from mcpserver.ksm.worker import (
    LocalRenderer,
    ObjectsRenderer,
    RenderFailed,
    RenderUnavailable,
    RenderWorker,
)
from store import Kind, Store, StoreError
from store.snapshot import AggregatesSnapshot, take_aggregates

__all__ = [
    "DEFAULT_OBJECTS_LIMIT",
    "DWELL_SECONDS",
    "LOW_WATER",
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
# Auto mode goes back from summary to objects only below this share of the limit...
LOW_WATER = 0.9
# ...held this long (seconds): longer than the usual `for:` of the mixin's alerts (15m).
DWELL_SECONDS = 900.0

BuildObjects = Callable[[], Awaitable[Built]]
Enabled = bool | Callable[[], bool]


class SnapshotFailed(McpServerError):
    """The store could not be read for a scrape; the cluster families are left out of it."""


@dataclasses.dataclass(frozen=True)
class ClusterSnapshot:
    """What one scrape (or several coalesced ones) exports about the cluster."""

    mode: Literal["objects", "summary"]
    # The snapshot the renderer holds: objects mode, and auto mode's summary (the alert scope).
    objects: Built | None
    aggregates: AggregatesSnapshot | None  # summary mode
    seconds: float  # time to build it
    summary_nodes: FragmentCache | None = None  # summary mode's node lines, kept across scrapes

    def pieces(self, *, openmetrics: bool) -> Iterator[Piece]:
        """Summary mode's exposition, in order, as pieces to run in a worker thread each."""
        if self.aggregates is None:
            return
        mode = (
            MODE.header(openmetrics=openmetrics)
            + f'kube_watchcache_metrics_cluster_mode{{mode="{self.mode}"}} 1\n'
        )
        yield lambda: mode
        yield from summary_pieces(
            self.aggregates, openmetrics=openmetrics, cache=self.summary_nodes
        )


class _Build:
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: ClusterSnapshot | None = None
        self.error: BaseException | None = None
        self.waiters = 0


class ClusterCollector:
    """Builds cluster snapshots from `store`; see the module docstring.

    `build_objects` is what builds an objects-mode snapshot (the renderer's
    `build` by default; an attribute so tests and benchmarks can wrap it).
    `isolate=False` renders objects mode in a thread of this process.
    Call `aclose()` when the agent stops (it ends the renderer process).
    """

    def __init__(
        self,
        store: Store,
        *,
        mode: MetricsMode = "auto",
        objects_limit: int = DEFAULT_OBJECTS_LIMIT,
        on_build: Callable[[str, float], None] | None = None,
        isolate: bool = True,
        labels_allowlist: str = "",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"metrics mode must be one of {', '.join(MODES)}, got {mode!r}")
        if objects_limit < 0:
            raise ValueError(f"objects_limit must be >= 0, got {objects_limit}")
        self.store = store
        self.enabled: Enabled = True
        self.mode: MetricsMode = mode
        self.objects_limit = objects_limit
        # `labels_allowlist`: the Kubernetes labels the `*_labels` families carry.
        self.renderer: ObjectsRenderer = (
            RenderWorker(store.path, labels_allowlist=labels_allowlist)
            if isolate
            else LocalRenderer(store.path, labels_allowlist=labels_allowlist)
        )
        self.build_objects: BuildObjects = self._build_objects
        self.summary_nodes = FragmentCache()
        self.builds: Counter[str] = Counter()  # by mode
        self.coalesced = 0  # scrapes served by a build another scrape started
        self.failures = 0
        self._on_build = on_build
        self.clock: Callable[[], float] = time.monotonic  # for the dwell time; tests move it
        self._auto: Literal["objects", "summary"] | None = None  # auto mode's current choice
        self._low_since: float | None = None  # when the count last went under the low water
        self._inflight: _Build | None = None
        self._joined = anyio.Event()

    def is_enabled(self) -> bool:
        """Whether scrapes carry the cluster families now (`enabled` may be a callable)."""
        enabled = self.enabled
        return bool(enabled() if callable(enabled) else enabled)

    def effective_mode(self) -> Literal["objects", "summary"]:
        """The mode the next snapshot uses; in auto mode, decided on the store's object count.

        Auto mode keeps its choice between calls, with hysteresis (see the
        module docstring): each call is one observation of the count.
        """
        if self.mode != "auto":
            self._auto = self._low_since = None
            return self.mode
        view = self.store.view
        count = sum(view.objects(k) for k in Kind)
        if self._auto is None:
            self._auto = "objects" if count <= self.objects_limit else "summary"
        elif self._auto == "objects":
            if count > self.objects_limit:
                self._auto = "summary"
        elif count > self.objects_limit * LOW_WATER:
            self._low_since = None
        else:
            now = self.clock()
            if self._low_since is None:
                self._low_since = now
            if now - self._low_since >= DWELL_SECONDS:
                self._auto = "objects"
        if self._auto == "objects":
            self._low_since = None
        else:
            log.debug("metrics: %d objects, auto mode in summary", count)
        return self._auto

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
            objects = await self.build_objects()
        else:
            aggregates = take_aggregates(self.store.view)
            if self.mode == "auto":
                try:
                    objects = await self._build_objects("alerts")
                except (RenderFailed, StoreError) as e:
                    # The aggregates are still worth a scrape; the next one tries again.
                    self.failures += 1
                    log.warning("metrics: alert families left out of this scrape: %s", e)
            elif self.builds["objects"] or self.builds["alerts"]:
                # The renderer is not in use now: give back what it keeps between scrapes.
                await self.renderer.aclose()
        seconds = time.perf_counter() - started
        self.builds[mode] += 1
        if objects is not None and mode == "summary":
            self.builds["alerts"] += 1
        if self._on_build is not None:
            self._on_build(mode, seconds)
        return ClusterSnapshot(
            mode=mode,
            objects=objects,
            aggregates=aggregates,
            seconds=seconds,
            summary_nodes=self.summary_nodes,
        )

    async def _build_objects(self, scope: Scope = "all") -> Built:
        try:
            return await self.renderer.build(scope)
        except (OSError, RenderUnavailable) as e:
            if not isinstance(self.renderer, RenderWorker):
                raise
            # No child process here (a sandbox, a frozen binary): render in a thread instead.
            log.warning("metrics: cannot start the renderer process (%s); rendering in process", e)
            self.renderer = LocalRenderer(self.store.path)
            return await self.renderer.build(scope)

    async def render(
        self, snapshot: ClusterSnapshot, *, head: bytes, tail: bytes, openmetrics: bool
    ) -> list[bytes]:
        """The whole gzip body of a scrape the renderer holds: `head`, the cluster families, `tail`.

        Summary mode's aggregates (auto mode above the limit) are rendered here
        and travel with `head`. Raises SnapshotFailed (the caller then serves
        `head` and `tail` alone).
        """
        if snapshot.objects is None:
            raise ValueError("this snapshot has nothing in the renderer")
        if snapshot.aggregates is not None:
            aggregates, cache = snapshot.aggregates, snapshot.summary_nodes

            def summary() -> bytes:
                pieces = summary_pieces(aggregates, openmetrics=openmetrics, cache=cache)
                return "".join(piece() for piece in pieces).encode()

            head += await anyio.to_thread.run_sync(summary)
        request = RenderRequest(
            id=snapshot.objects.id,
            openmetrics=openmetrics,
            head=head,
            tail=tail,
            mode=snapshot.mode,
        )
        try:
            with anyio.CancelScope(shield=True):
                body = await self.renderer.render(request)
        except RenderFailed as e:
            self.failures += 1
            raise SnapshotFailed(str(e)) from e
        return body

    async def aclose(self) -> None:
        """Stop the renderer process (a later objects-mode scrape would start another)."""
        with anyio.CancelScope(shield=True):
            await self.renderer.aclose()
