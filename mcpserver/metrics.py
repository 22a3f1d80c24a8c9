"""The agent's own Prometheus metrics and the /metrics exposition.

Each app gets its own `CollectorRegistry` (not the process-global default), so
tests and benchmarks can run several agents in one process. Collectors added
later (store and watcher gauges) must read a ready snapshot: `collect()` runs
on the event loop when /metrics is scraped and must never wait on I/O.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AgentMetrics", "HttpMetricsMiddleware"]

_ROUTES = ("/mcp", "/health", "/ready", "/metrics")
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class AgentMetrics:
    """The metric families the MCP server updates, on one registry."""

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

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of every metric on the registry, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

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
