"""The MCP server object: tools, resources, prompts, subscriptions and the audit middleware.

Transport-neutral: the same object is served over streamable HTTP (see
`mcpserver.web.http_app`) or stdio (`run_stdio_async`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import (
    ResourceNotFoundError,
    ToolError,
    UnexpectedToolError,
)
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolResult,
    GetPromptResult,
    InputRequiredResult,
    SubscribeRequestParams,
    UnsubscribeRequestParams,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import AnyUrl, ValidationError

from mcpserver.arguments import clipped, shown, text_problem
from mcpserver.errors import RESOURCE_NOT_FOUND
from mcpserver.metrics import AgentMetrics
from mcpserver.surface.audit import AuditMiddleware
from mcpserver.surface.prompts import register_prompts
from mcpserver.surface.resources import register_resources
from mcpserver.surface.service import ClusterAnswers
from mcpserver.surface.subscriptions import ResourceNotifier
from mcpserver.surface.tools import TOOL_NAMES, register_tools

__all__ = ["KubeWatchcacheServer", "build_mcp_server"]

log = logging.getLogger("kube_watchcache.mcp")

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


def _not_found_code(context: Context[Any, Any] | None) -> int:
    """A missing resource: -32002 up to 2025-11-25, -32602 from 2026-07-28 (SEP-2164)."""
    version = context.protocol_version if context is not None else None
    return RESOURCE_NOT_FOUND if version in HANDSHAKE_PROTOCOL_VERSIONS else INVALID_PARAMS


class KubeWatchcacheServer(MCPServer[Any]):
    """`MCPServer` that answers a client's mistakes the way the protocol says, in one line.

    - `tools/call`: an unknown tool is a protocol error, -32602; bad arguments
      (schema, values the tool refuses, text that is not valid Unicode) are a
      tool result with `isError` and one line per bad field, not a pydantic dump.
    - `prompts/get`: an unknown prompt, missing or unexpected arguments and
      arguments the prompt refuses are -32602.
    - `resources/read`: a missing resource is -32002 for clients of the
      handshake protocols (up to 2025-11-25), -32602 from 2026-07-28
      (SEP-2164 retired -32002); a malformed URI is -32602.

    Each is logged as one INFO line (logger `kube_watchcache.mcp`), never with a
    traceback: a traceback in the log means a bug of ours, not a bad request.
    """

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        if name not in TOOL_NAMES:
            log.info("tools/call refused: unknown tool %s", shown(name))
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {shown(name)}")
        problem = text_problem(arguments)
        if problem is not None:
            raise ToolError(f"invalid arguments for {name}: {problem}")
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError) and not isinstance(exc, UnexpectedToolError):
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                    for err in cause.errors(include_url=False)
                )
                raise ToolError(clipped(f"invalid arguments for {name}: {problems}")) from None
            message = str(exc)
            if isinstance(exc, UnexpectedToolError) or clipped(message) == message:
                raise
            raise ToolError(clipped(message)) from None

    async def get_prompt(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        context: Context[Any, Any] | None = None,
    ) -> GetPromptResult | InputRequiredResult:
        try:
            self._check_prompt(name, arguments or {}, await self.list_prompts())
            return await super().get_prompt(name, arguments, context)
        except MCPError as exc:
            log.info("prompts/get %s refused: %s", shown(name), exc.error.message)
            raise

    @staticmethod
    def _check_prompt(name: str, arguments: dict[str, Any], prompts: Sequence[Any]) -> None:
        prompt = next((p for p in prompts if p.name == name), None)
        if prompt is None:
            known = ", ".join(sorted(p.name for p in prompts))
            raise MCPError(INVALID_PARAMS, f"Unknown prompt: {shown(name)}; prompts: {known}")
        declared = {a.name: a for a in prompt.arguments or ()}
        missing = sorted(n for n, a in declared.items() if a.required and n not in arguments)
        unexpected = sorted(shown(n) for n in arguments if n not in declared)
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected {', '.join(unexpected)}")
        text = text_problem(arguments)
        if text is not None:
            problems.append(text)
        if problems:
            takes = ", ".join(declared) or "no arguments"
            raise MCPError(
                INVALID_PARAMS,
                clipped(
                    f"invalid arguments for prompt {name}: {'; '.join(problems)} "
                    f"(it takes: {takes})"
                ),
            )

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[Any, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        try:
            if text_problem({"uri": str(uri)}) is not None:
                raise MCPError(
                    INVALID_PARAMS, "invalid resource URI: not valid Unicode text", {"uri": "?"}
                )
            try:
                return await super().read_resource(uri, context)
            except ResourceNotFoundError as exc:
                raise MCPError(
                    _not_found_code(context), clipped(str(exc)), {"uri": str(uri)}
                ) from None
        except MCPError as exc:
            log.info("resources/read %s refused: %s", shown(str(uri)), exc.error.message)
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
