"""One audit line and one metric observation per MCP tool call.

Runs as SDK middleware around every inbound request, so it sees the tool name,
the caller and the outcome whatever the transport, including calls the SDK
rejects before the tool runs (unknown tool, malformed arguments). The caller is
the label the auth middleware put on the HTTP request (`token:<hash>`) or the
peer address; over stdio it is `stdio`. The token itself is never logged, and
neither are the arguments (they may carry a user's SQL or names).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp_types import CallToolResult

from mcpserver.logs import AUDIT_LOGGER
from mcpserver.metrics import AgentMetrics

__all__ = ["AuditMiddleware", "request_client"]

log = logging.getLogger(AUDIT_LOGGER)  # off the demo's console: `logs.show_audit_lines`


def request_client(ctx: ServerRequestContext[Any, Any]) -> str:
    """Who sent this MCP request, as safe-to-log text."""
    request = ctx.request
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return "stdio"
    state = scope.get("state") or {}
    label = state.get("client")
    if isinstance(label, str):
        return label
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:unknown"


class AuditMiddleware:
    """SDK `ServerMiddleware`: times, logs and counts `tools/call`; other methods pass through."""

    def __init__(self, metrics: AgentMetrics, *, tools: frozenset[str]) -> None:
        self.metrics = metrics
        self.tools = tools  # known names: anything else is counted as "<unknown>"

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method != "tools/call" or ctx.request_id is None:
            return await call_next(ctx)
        params = ctx.params or {}
        raw_name = params.get("name")
        tool = raw_name if isinstance(raw_name, str) and raw_name in self.tools else "<unknown>"
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await call_next(ctx)
            outcome = "error" if _is_error(result) else "ok"
            return result
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe_tool(tool=tool, outcome=outcome, seconds=seconds)
            log.info(
                "tool call",
                extra={
                    "fields": {
                        "tool": tool,
                        "client": request_client(ctx),
                        "duration_ms": round(seconds * 1000, 2),
                        "outcome": outcome,
                    }
                },
            )


def _is_error(result: HandlerResult) -> bool:
    if isinstance(result, CallToolResult):
        return bool(result.is_error)
    if isinstance(result, dict):
        return bool(result.get("isError") or result.get("is_error"))
    return False
