"""The agent's own live state as Prometheus families: watches, store, callbacks, scrapes.

The watcher, the store and the callback registry already count what they do
in plain attributes (`WatchStats`, the view's sync states, each
subscription's counters); this collector turns copies of them into metric
families when /metrics is rendered. `collect()` runs on the event loop, so it
only copies memory — it never waits on I/O — and it reads no live dict while
iterating it.

Transitions are counted here too, from the store's commit hook, by kind,
field and severity. A field names a container (`container/web/waiting_reason`);
the container name is folded to `*` so the label set stays bounded.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from kinds import STORED
from store import Store, Transition

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from dispatch import CallbackRegistry
    from mcpserver.ksm.collector import ClusterCollector
    from watcher import Informers

__all__ = ["PLURALS", "AgentStateCollector", "TransitionCounts"]

PLURALS = {kind: spec.name for kind, spec in STORED.items()}


def _fold_field(field: str) -> str:
    if field.startswith("container/"):
        parts = field.split("/", 2)
        if len(parts) == 3:
            return f"container/*/{parts[2]}"
    return field


class TransitionCounts:
    """Committed transitions by (kind, field, severity); a store subscriber (never blocks)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def __call__(self, transitions: Sequence[Transition]) -> None:
        self.counts.update(
            (PLURALS.get(t.kind, str(t.kind)), _fold_field(t.field), t.severity.value)
            for t in transitions
        )


class AgentStateCollector(Collector):
    """Families built from the live counters of the informers, store, callbacks and scrapes."""

    def __init__(
        self,
        *,
        store: Store,
        informers: Informers | None = None,
        callbacks: CallbackRegistry | None = None,
        cluster: ClusterCollector | None = None,
        transitions: TransitionCounts | None = None,
    ) -> None:
        self.store = store
        self.informers = informers
        self.callbacks = callbacks
        self.cluster = cluster
        self.transitions = transitions

    def collect(self) -> Iterable[Metric]:
        yield from self._watch()
        yield from self._store()
        yield from self._callbacks()
        yield from self._scrapes()

    def _watch(self) -> Iterator[Metric]:
        if self.informers is None:
            return
        stats = self.informers.stats.snapshot()
        events = CounterMetricFamily(
            "kube_watchcache_watch_events",
            "Watch events received, by kind and type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR).",
            labels=["kind", "type"],
        )
        for (kind, type_), n in sorted(stats["events"].items()):
            events.add_metric([kind, type_], n)
        yield events
        requests = CounterMetricFamily(
            "kube_watchcache_watch_requests",
            "List and watch requests to the API server, by kind, verb and result.",
            labels=["kind", "verb", "result"],
        )
        for (kind, verb, result), n in sorted(stats["requests"].items()):
            requests.add_metric([kind, verb, result], n)
        yield requests
        restarts = CounterMetricFamily(
            "kube_watchcache_watch_restarts",
            "Watches re-established, by kind and reason (closed, gone, stalled, silent, "
            "throttled, too-large, history-reset...).",
            labels=["kind", "reason"],
        )
        for (kind, reason), n in sorted(stats["restarts"].items()):
            restarts.add_metric([kind, reason], n)
        yield restarts
        relists = CounterMetricFamily(
            "kube_watchcache_relists",
            "Complete lists of a kind, by reason: initial, gone (410), requested (store reset), "
            "too-large (504 Too large resource version), history-reset (versions went back).",
            labels=["kind", "reason"],
        )
        for (kind, reason), n in sorted(stats["relist_reasons"].items()):
            relists.add_metric([kind, reason], n)
        yield relists

    def _store(self) -> Iterator[Metric]:
        view = self.store.view
        watched = (
            [k for k in PLURALS if PLURALS[k] in self.informers.feeds]
            if self.informers is not None
            else list(PLURALS)
        )
        sync = dict(view.sync)
        now = time.time()
        objects = GaugeMetricFamily(
            "kube_watchcache_store_objects", "Objects in the store, by kind.", labels=["kind"]
        )
        synced = GaugeMetricFamily(
            "kube_watchcache_synced",
            "Whether the kind's informer has completed its initial list (1) or not (0).",
            labels=["kind"],
        )
        since = GaugeMetricFamily(
            "kube_watchcache_seconds_since_last_event",
            "Seconds since the store last committed an event of the kind (absent before any).",
            labels=["kind"],
        )
        for kind in watched:
            plural = PLURALS[kind]
            objects.add_metric([plural], view.objects(kind))
            state = sync.get(kind)
            synced.add_metric([plural], 1 if state is not None and state.synced else 0)
            if state is not None and state.last_event_at is not None:
                since.add_metric([plural], max(0.0, now - state.last_event_at))
        yield objects
        yield synced
        yield since
        yield GaugeMetricFamily(
            "kube_watchcache_store_healthy",
            "Whether the store can write its database file (1) or not (0).",
            value=1 if self.store.healthy else 0,
        )
        if self.transitions is not None:
            family = CounterMetricFamily(
                "kube_watchcache_transitions",
                "Status transitions committed to history, by kind, field and severity.",
                labels=["kind", "field", "severity"],
            )
            for key, n in sorted(dict(self.transitions.counts).items()):
                family.add_metric(list(key), n)
            yield family

    def _callbacks(self) -> Iterator[Metric]:
        if self.callbacks is None:
            return
        deliveries = CounterMetricFamily(
            "kube_watchcache_callback_deliveries",
            "Transitions handed to a callback sink, by sink and outcome (ok, error).",
            labels=["sink", "outcome"],
        )
        depth = GaugeMetricFamily(
            "kube_watchcache_callback_queue_depth",
            "Transitions queued for a callback sink, not yet delivered.",
            labels=["sink"],
        )
        dropped = CounterMetricFamily(
            "kube_watchcache_callback_dropped",
            "Transitions dropped because a queue was full, by sink ('dispatch': the shared queue).",
            labels=["sink"],
        )
        dropped.add_metric(["dispatch"], self.callbacks.stats.dropped)
        depth.add_metric(["dispatch"], self.callbacks.dispatch_pending)  # the shared queue
        for sub in self.callbacks.subscriptions:
            deliveries.add_metric([sub.name, "ok"], sub.delivered)
            deliveries.add_metric([sub.name, "error"], sub.failed)
            depth.add_metric([sub.name], sub.pending)
            dropped.add_metric([sub.name], sub.dropped)
        yield deliveries
        yield depth
        yield dropped

    def _scrapes(self) -> Iterator[Metric]:
        if self.cluster is None:
            return
        builds = CounterMetricFamily(
            "kube_watchcache_metrics_snapshots",
            "Cluster snapshots built for /metrics, by mode (objects, summary).",
            labels=["mode"],
        )
        for mode in ("objects", "summary"):
            builds.add_metric([mode], self.cluster.builds[mode])
        yield builds
        yield CounterMetricFamily(
            "kube_watchcache_metrics_coalesced_scrapes",
            "Scrapes served by a snapshot another concurrent scrape was already building.",
            value=self.cluster.coalesced,
        )
        yield CounterMetricFamily(
            "kube_watchcache_metrics_snapshot_failures",
            "Scrapes whose cluster snapshot could not be read (they carry agent metrics only).",
            value=self.cluster.failures,
        )
