"""The one ASGI app on the one port: /mcp, /health, /ready and /metrics.

The SDK's `streamable_http_app()` is a Starlette app serving /mcp (and running
its session manager in the app's lifespan); the three operational routes are
added to it, and the security layers wrap it, outermost first:

    HTTP metrics -> CORS (if origins are configured) -> Host/Origin (/mcp)
    -> bearer auth (/mcp, and /metrics if asked) -> rate limit (/mcp) -> app

so that a refused request is still counted, a browser's CORS preflight is
answered before auth (preflights carry no credentials), and the rate limit
knows the caller's token label.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mcpserver.auth import BearerAuthMiddleware, TokenSet
from mcpserver.config import Settings
from mcpserver.hostcheck import HostOriginMiddleware
from mcpserver.metrics import AgentMetrics, HttpMetricsMiddleware
from mcpserver.ratelimit import RateLimitMiddleware, TokenBuckets

__all__ = ["MCP_PATH", "Readiness", "build_http_app"]

MCP_PATH = "/mcp"

Readiness = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
"""Returns (ready, details); details name the reason when not ready."""


def build_http_app(
    *,
    mcp: MCPServer[Any],
    settings: Settings,
    tokens: TokenSet,
    metrics: AgentMetrics,
    readiness: Readiness,
) -> ASGIApp:
    """Assemble the app; `mcp` must not have built its HTTP app before (one session manager)."""
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
    if settings.rate_limit > 0:
        app = RateLimitMiddleware(
            app,
            buckets=TokenBuckets(rate=settings.rate_limit, burst=settings.rate_limit_burst),
            paths=(MCP_PATH,),
            on_limited=lambda client: metrics.rate_limited.inc(),
        )
    protected = [MCP_PATH] + (["/metrics"] if settings.metrics_auth == "token" else [])
    app = BearerAuthMiddleware(app, tokens=tokens, protected=protected)
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
