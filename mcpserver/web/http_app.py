"""The one ASGI app on the one port: /mcp, /health, /ready and /metrics.

The SDK's `streamable_http_app()` is a Starlette app serving /mcp (and running
its session manager in the app's lifespan); the three operational routes are
added to it, and the security layers wrap it, outermost first:

    HTTP metrics -> CORS (if origins are configured) -> Host/Origin (/mcp)
    -> bearer auth (/mcp, and /metrics if asked) -> rate limit (/mcp)
    -> body deadline -> in-flight id guard -> admission (/mcp) -> app

so that a refused request is still counted, a browser's CORS preflight is
answered before auth (preflights carry no credentials), the rate limit
knows the caller's token label, and only authenticated, rate-allowed
requests whose body has arrived (within `--body-read-timeout`,
`deadlines`) and whose JSON-RPC id is not already in flight in
their session (`requestids`) take a place in the admission queue
(`admission`). Bearer auth also ends the open requests of a token
that stops being valid (`auth`). The headers' deadline is the
listener's (`listener`): headers are read before any of this runs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    TransportSecuritySettings,
)
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mcpserver.config import Settings
from mcpserver.metrics import AgentMetrics, HttpMetricsMiddleware
from mcpserver.web.admission import AdmissionLimit, AdmissionMiddleware, LoopLagMonitor
from mcpserver.web.auth import BearerAuthMiddleware, TokenSet
from mcpserver.web.deadlines import BodyDeadlineMiddleware
from mcpserver.web.hostcheck import HostOriginMiddleware
from mcpserver.web.ratelimit import RateLimitMiddleware, TokenBuckets
from mcpserver.web.requestids import InFlightIdGuard

__all__ = [
    "INGEST_BACKLOG_BEHIND",
    "MCP_PATH",
    "Readiness",
    "admission_middleware",
    "build_http_app",
]

MCP_PATH = "/mcp"

INGEST_BACKLOG_BEHIND = 1000
"""Deltas queued for the store writer above which ingest counts as behind (~1 s at 1k events/s)."""

Readiness = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
"""Returns (ready, details); details name the reason when not ready."""


def build_http_app(
    *,
    mcp: MCPServer[Any],
    settings: Settings,
    tokens: TokenSet,
    metrics: AgentMetrics,
    readiness: Readiness,
    ingest_backlog: Callable[[], int] | None = None,
) -> ASGIApp:
    """Assemble the app; `mcp` must not have built its HTTP app before (one session manager).

    `ingest_backlog()`, when given, is the number of deltas queued for the
    store writer; above `INGEST_BACKLOG_BEHIND` the admission limit gives
    ingest priority, as it does while the event loop runs late.
    """
    started = time.time()

    async def health(request: Request) -> Response:
        # Answering at all proves the process and its event loop are alive.
        return JSONResponse({"status": "ok", "uptime_seconds": round(time.time() - started, 1)})

    async def ready(request: Request) -> Response:
        ok, details = await readiness()
        return JSONResponse({"ready": ok, **details}, status_code=200 if ok else 503)

    async def metrics_endpoint(request: Request) -> Response:
        # OpenMetrics or text by Accept, gzip by Accept-Encoding; streamed (mcpserver.ksm).
        return await metrics.response(
            accept=request.headers.get("accept", ""),
            accept_encoding=request.headers.get("accept-encoding", ""),
        )

    starlette_app = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH,
        # Host/Origin are checked by HostOriginMiddleware (with '*' and
        # per-path support); the SDK still checks Content-Type on POST.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=settings.host,
    )
    starlette_app.router.routes.extend(
        [
            Route("/health", health, methods=["GET"], include_in_schema=False),
            Route("/ready", ready, methods=["GET"], include_in_schema=False),
            Route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False),
        ]
    )
    app: ASGIApp = starlette_app
    if settings.mcp_concurrency > 0:
        app = admission_middleware(
            app, settings=settings, registry=metrics.registry, ingest_backlog=ingest_backlog
        )
    app = InFlightIdGuard(app)  # a reused in-flight id would hang the first request's answer
    app = BodyDeadlineMiddleware(
        app,
        timeout=settings.body_read_timeout,
        max_body_size=DEFAULT_MAX_REQUEST_BODY_SIZE,  # the SDK's own limit, which it keeps
        on_timeout=metrics.read_timeouts.labels(phase="body").inc,
    )
    if settings.rate_limit > 0:
        app = RateLimitMiddleware(
            app,
            buckets=TokenBuckets(rate=settings.rate_limit, burst=settings.rate_limit_burst),
            paths=(MCP_PATH,),
            on_limited=lambda client: metrics.rate_limited.inc(),
        )
    protected = [MCP_PATH] + (["/metrics"] if settings.metrics_auth == "token" else [])
    app = BearerAuthMiddleware(
        app, tokens=tokens, protected=protected, on_revoked=metrics.revoked_requests.inc
    )
    app = HostOriginMiddleware(
        app,
        allowed_hosts=settings.effective_allowed_hosts(),
        allowed_origins=settings.allowed_origins,
        paths=(MCP_PATH,),
    )
    if settings.allowed_origins:
        app = CORSMiddleware(
            app,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["*"],  # MCP adds Mcp-* headers across protocol versions
            expose_headers=["Mcp-Session-Id", "WWW-Authenticate"],
            max_age=600,
        )
    return HttpMetricsMiddleware(app, metrics=metrics)


def admission_middleware(
    app: ASGIApp,
    *,
    settings: Settings,
    registry: CollectorRegistry | None,
    ingest_backlog: Callable[[], int] | None = None,
) -> AdmissionMiddleware:
    """`app` behind the /mcp admission limit of `settings`, its figures exported on `registry`."""
    lag = None
    pressure = None
    if settings.ingest_priority_lag > 0:
        lag = LoopLagMonitor(threshold_s=settings.ingest_priority_lag)
        monitor = lag

        def pressure() -> bool:
            if monitor.behind():
                return True
            return ingest_backlog is not None and ingest_backlog() > INGEST_BACKLOG_BEHIND

    limit = AdmissionLimit(
        concurrency=settings.mcp_concurrency,
        queue=settings.mcp_queue,
        wait_s=settings.mcp_queue_wait,
        pressure=pressure,
    )
    if registry is not None:
        registry.register(_AdmissionCollector(limit, lag))
    return AdmissionMiddleware(
        app,
        limit=limit,
        paths=(MCP_PATH,),
        background=(lag.run,) if lag is not None else (),
    )


class _AdmissionCollector(Collector):
    """The admission limit's counters, read at scrape time (no work on the request path)."""

    def __init__(self, limit: AdmissionLimit, lag: LoopLagMonitor | None) -> None:
        self._limit = limit
        self._lag = lag

    def collect(self) -> list[CounterMetricFamily | GaugeMetricFamily]:
        limit = self._limit.limit()
        refused = CounterMetricFamily(
            "kube_watchcache_mcp_admission_refused",
            "/mcp requests refused with 503 by the admission limit, by reason "
            "(queue_full, wait_timeout).",
            labels=["reason"],
        )
        refused.add_metric(["queue_full"], self._limit.refused_full)
        refused.add_metric(["wait_timeout"], self._limit.refused_timeout)
        queued = CounterMetricFamily(
            "kube_watchcache_mcp_admission_queued",
            "/mcp requests that had to wait for a slot (admitted later or refused).",
        )
        queued.add_metric([], self._limit.queued)
        state = GaugeMetricFamily(
            "kube_watchcache_mcp_admission",
            "/mcp admission now: requests in flight, waiting, and the current limit "
            "(lower while ingest is behind).",
            labels=["state"],
        )
        state.add_metric(["in_flight"], self._limit.in_flight)
        state.add_metric(["waiting"], self._limit.waiting)
        state.add_metric(["limit"], limit)
        families: list[CounterMetricFamily | GaugeMetricFamily] = [refused, queued, state]
        if self._lag is not None:
            loop = GaugeMetricFamily(
                "kube_watchcache_event_loop_lag_seconds",
                "Worst lateness of a 50 ms timer on the agent's event loop over the last 2 s; "
                "above --ingest-priority-lag, /mcp admits one request at a time.",
            )
            loop.add_metric([], self._lag.lag_s)
            families.append(loop)
        return families
