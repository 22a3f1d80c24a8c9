"""The MCP server object: tools, resources, prompts, subscriptions and the audit middleware.

Transport-neutral: the same object is served over streamable HTTP (see
`mcpserver.http_app`) or stdio (`run_stdio_async`).
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import (
    CallToolResult,
    InputRequiredResult,
    SubscribeRequestParams,
    UnsubscribeRequestParams,
)
from pydantic import ValidationError

from mcpserver.audit import AuditMiddleware
from mcpserver.metrics import AgentMetrics
from mcpserver.prompts import register_prompts
from mcpserver.resources import register_resources
from mcpserver.service import ClusterAnswers
from mcpserver.subscriptions import ResourceNotifier
from mcpserver.tools import TOOL_NAMES, register_tools

__all__ = ["KubeWatchcacheServer", "build_mcp_server"]

INSTRUCTIONS = """\
kube-watchcache answers questions about a Kubernetes cluster from a local watch cache kept \
current by informers: answers are small, exact and take milliseconds, and no question reaches \
the API server. Start with cluster_health ("what is broken, since when"); list_* tools filter \
(problems_only=true for broken objects) and page with cursor; get_* tools give one object with \
its recent status changes; recent_changes answers "what changed"; metric_summary gives totals \
by namespace, node or deployment; query runs read-only SQL for anything else. Every answer has \
freshness: if stale is true, say so. Resources k8s://health, k8s://pods/{ns}/{name}, \
k8s://deployments/{ns}/{name} and k8s://nodes/{name} can be subscribed to for change notifications.\
"""


class KubeWatchcacheServer(MCPServer[Any]):
    """`MCPServer` whose argument errors read as one line per bad field, not a pydantic dump."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError) and not isinstance(exc, UnexpectedToolError):
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                    for err in cause.errors(include_url=False)
                )
                raise ToolError(f"invalid arguments for {name}: {problems}") from None
            raise


def build_mcp_server(
    *,
    answers: ClusterAnswers,
    metrics: AgentMetrics,
    notifier: ResourceNotifier | None = None,
    version: str = "",
) -> tuple[KubeWatchcacheServer, ResourceNotifier]:
    """The server with every tool, resource and prompt, and the notifier feeding its subscribers."""
    mcp = KubeWatchcacheServer(
        name="kube-watchcache",
        title="kube-watchcache",
        version=version,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    register_tools(mcp, answers)
    register_resources(mcp, answers)
    register_prompts(mcp, answers)
    mcp.middleware.append(AuditMiddleware(metrics, tools=frozenset(TOOL_NAMES)))
    if notifier is None:
        notifier = ResourceNotifier(
            mcp._subscriptions,
            on_publish=lambda protocol, n: metrics.resource_notifications.labels(
                protocol=protocol
            ).inc(n),
        )
    # resources/subscribe is a spec method of the handshake era that MCPServer does not
    # serve; the low-level server is where the SDK says to add it.
    lowlevel = mcp._lowlevel_server
    lowlevel.add_request_handler(
        "resources/subscribe", SubscribeRequestParams, notifier.handle_subscribe
    )
    lowlevel.add_request_handler(
        "resources/unsubscribe", UnsubscribeRequestParams, notifier.handle_unsubscribe
    )
    return mcp, notifier
