"""The agent's own Prometheus metrics and the /metrics exposition.

Each app gets its own `CollectorRegistry` (not the process-global default), so
tests and benchmarks can run several agents in one process. The families
updated as things happen (MCP tool calls, HTTP requests, store batches) are
prometheus_client metrics here; `attach()` adds what is read at scrape time:
the live counters of the watcher, store and callbacks (`AgentStateCollector`,
which only copies memory: `collect()` runs on the event loop and must never
wait on I/O) and the cluster gauges (`ClusterCollector`, whose snapshot is
awaited — shared by concurrent scrapes; in objects mode built and rendered
by a child process reading the store file, off this interpreter's GIL —
before the response is sent). `mcpserver.ksm` holds those; it is imported
on first `attach()`, so `kube-watchcache --help` stays quick.

The composition root calls `aclose()` on shutdown (it ends that child) and,
with leader election, `set_cluster_gauges_enabled(lambda: elector.is_leader)`.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from starlette.responses import Response

    from dispatch import CallbackRegistry
    from mcpserver.ksm import ClusterCollector, MetricsMode, TransitionCounts
    from store import Store
    from watcher import Informers

__all__ = ["AgentMetrics", "HttpMetricsMiddleware"]

_ROUTES = ("/mcp", "/health", "/ready", "/metrics")
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 10, 100, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 150_000)
_SNAPSHOT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class AgentMetrics:
    """The agent's metric families on one registry; `attach()` adds the scrape-time ones."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.tool_calls = Counter(
            "kube_watchcache_mcp_tool_calls_total",
            "MCP tool calls answered, by tool and outcome (ok, error).",
            ["tool", "outcome"],
            registry=self.registry,
        )
        self.tool_duration = Histogram(
            "kube_watchcache_mcp_tool_duration_seconds",
            "Time to answer an MCP tool call, by tool.",
            ["tool"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.resource_notifications = Counter(
            "kube_watchcache_mcp_resource_notifications_total",
            "Resource-updated notifications published to subscribers, by protocol generation.",
            ["protocol"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "kube_watchcache_http_requests_total",
            "HTTP requests served, by path and status code.",
            ["path", "code"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "kube_watchcache_http_rate_limited_total",
            "Requests refused with 429 by the per-client rate limit.",
            registry=self.registry,
        )
        self.read_timeouts = Counter(
            "kube_watchcache_http_read_timeouts_total",
            "Requests cut off (408, connection closed) because their headers or body did not "
            "arrive within --header-read-timeout / --body-read-timeout, by phase "
            "(headers, body): slow senders.",
            ["phase"],
            registry=self.registry,
        )
        for phase in ("headers", "body"):  # both series from the start, at 0
            self.read_timeouts.labels(phase=phase)
        self.revoked_requests = Counter(
            "kube_watchcache_http_revoked_requests_total",
            "Open requests (notification streams, mostly) ended because the bearer token "
            "they came with stopped being valid.",
            registry=self.registry,
        )
        self.store_batch_rows = Histogram(
            "kube_watchcache_store_batch_rows",
            "Objects written (upserted or deleted) per committed store batch.",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.store_batch_seconds = Histogram(
            "kube_watchcache_store_batch_seconds",
            "Time to prepare and commit one store batch (retries of a failing disk included).",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.snapshot_seconds = Histogram(
            "kube_watchcache_metrics_snapshot_seconds",
            "Time to build the cluster snapshot of a scrape, by mode.",
            ["mode"],
            buckets=_SNAPSHOT_BUCKETS,
            registry=self.registry,
        )
        self.build_info = Gauge(
            "kube_watchcache_build_info",
            "The agent's version and Python version; always 1.",
            ["version", "python_version"],
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        self.cluster: ClusterCollector | None = None
        self.transitions: TransitionCounts | None = None
        self._cluster_enabled: bool | Callable[[], bool] = True

    def attach(
        self,
        *,
        store: Store,
        informers: Informers | None = None,
        callbacks: CallbackRegistry | None = None,
        mode: MetricsMode = "auto",
        objects_limit: int | None = None,
        version: str = "0+unknown",
        labels_allowlist: str = "",
    ) -> None:
        """Export the running agent's state and the cluster gauges read from `store`.

        `labels_allowlist`: the Kubernetes labels the `*_labels` families carry
        (`--metric-labels-allowlist`). Call once, in the composition root, before
        serving /metrics.
        """
        from mcpserver.ksm import (
            DEFAULT_OBJECTS_LIMIT,
            AgentStateCollector,
            ClusterCollector,
            TransitionCounts,
        )

        self.build_info.labels(version=version, python_version=platform.python_version()).set(1)
        self.cluster = ClusterCollector(
            store,
            mode=mode,
            objects_limit=DEFAULT_OBJECTS_LIMIT if objects_limit is None else objects_limit,
            on_build=lambda m, seconds: self.snapshot_seconds.labels(mode=m).observe(seconds),
            labels_allowlist=labels_allowlist,
        )
        self.cluster.enabled = self._cluster_enabled
        self.transitions = TransitionCounts()
        store.writer.subscribe(self.transitions)
        store.writer.on_commit(self.observe_commit)
        self.registry.register(
            AgentStateCollector(
                store=store,
                informers=informers,
                callbacks=callbacks,
                cluster=self.cluster,
                transitions=self.transitions,
            )
        )

    def set_cluster_gauges_enabled(self, enabled: bool | Callable[[], bool]) -> None:
        """Whether scrapes carry the cluster gauges: a bool, or a callable read at each scrape.

        With leader election, pass `lambda: elector.is_leader`: only the
        leader exports the cluster (two replicas would double every sum);
        both always export their own agent metrics. Before or after `attach()`.
        """
        self._cluster_enabled = enabled
        if self.cluster is not None:
            self.cluster.enabled = enabled

    async def aclose(self) -> None:
        """Stop what `attach()` started (the objects-mode renderer process); idempotent."""
        if self.cluster is not None:
            await self.cluster.aclose()

    def observe_commit(self, rows: int, seconds: float) -> None:
        """The store's commit hook: one committed batch of `rows` objects took `seconds`."""
        self.store_batch_rows.observe(rows)
        self.store_batch_seconds.observe(seconds)

    async def response(self, *, accept: str = "", accept_encoding: str = "") -> Response:
        """The /metrics response: registry and cluster gauges, negotiated and streamed."""
        from mcpserver.ksm import metrics_response

        return await metrics_response(
            registry=self.registry,
            cluster=self.cluster,
            accept=accept,
            accept_encoding=accept_encoding,
        )

    def observe_tool(self, *, tool: str, outcome: str, seconds: float) -> None:
        self.tool_calls.labels(tool=tool, outcome=outcome).inc()
        self.tool_duration.labels(tool=tool).observe(seconds)


def _route(path: str) -> str:
    """The route a path belongs to, so unknown paths cannot blow up label cardinality."""
    for route in _ROUTES:
        if path == route or path.startswith(route + "/"):
            return route
    return "other"


class HttpMetricsMiddleware:
    """Counts every HTTP response by route and status code (outermost, so 401/429 count too)."""

    def __init__(self, app: ASGIApp, *, metrics: AgentMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_and_count(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        finally:
            self.metrics.http_requests.labels(
                path=_route(scope.get("path", "")), code=str(status)
            ).inc()
