"""The MCP tools: ten read-only questions answered from the watch cache.

Each tool is annotated read-only and idempotent, publishes an output schema,
and returns structured content (the answer) plus a short text summary (for
clients that read only text). Arguments are typed so the input schema lists
the allowed values; anything the schema cannot express is checked by
`ClusterAnswers` and reported as a tool error whose text says what to fix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from mcpserver.admission import leave_admission
from mcpserver.answers import (
    ClusterHealth,
    DeploymentDetail,
    DeploymentList,
    MetricSummary,
    NodeDetail,
    NodeList,
    PodDetail,
    PodList,
    QueryAnswer,
    RecentChanges,
)
from mcpserver.audit import request_client
from mcpserver.errors import InvalidArgument, NotFound
from mcpserver.render import render
from mcpserver.service import DEFAULT_LIMIT, HEALTH_LIMIT, MAX_LIMIT, ClusterAnswers
from mcpserver.tool_schemas import compact_tools
from store import HealthSettings
from store.columns import TABLES

__all__ = ["TOOL_NAMES", "query_schema_text", "register_tools"]

TOOL_NAMES = (
    "cluster_health",
    "list_pods",
    "get_pod",
    "list_deployments",
    "get_deployment",
    "list_nodes",
    "get_node",
    "recent_changes",
    "metric_summary",
    "query",
)

_READ_ONLY = ToolAnnotations(
    read_only_hint=True, idempotent_hint=True, destructive_hint=False, open_world_hint=False
)

M = TypeVar("M", bound=BaseModel)

Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="items per page")]
Cursor = Annotated[str | None, Field(description="next_cursor of the last page")]
Namespace = Annotated[str | None, Field(description="only this namespace")]
Selector = Annotated[str | None, Field(description="label selector, e.g. app=web,tier!=db")]
ProblemsOnly = Annotated[
    bool, Field(description="only broken now (as cluster_health), worst first")
]
Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
SeverityName = Literal["info", "warning", "critical"]
KindName = Literal["Pod", "Deployment", "Node"]


async def _answer(make: Callable[[], Awaitable[M]]) -> CallToolResult:
    """Run one question; client mistakes become tool errors with their message."""
    try:
        answer = await make()
    except (InvalidArgument, NotFound) as exc:
        raise ToolError(str(exc)) from None
    return CallToolResult(
        content=[TextContent(type="text", text=render(answer))],
        structured_content=answer.model_dump(mode="json"),
    )


def query_schema_text() -> str:
    """The tables the `query` tool can read, generated from the store's own table specs."""
    lines = []
    for spec in TABLES.values():
        cols = ", ".join(
            f"{c.name}{' (JSON)' if c.codec == 'json' else ''}"
            for c in spec.columns
            if c.name != "obj"
        )
        lines.append(f"- {spec.table}: {cols}, obj")
    lines.append(
        "- transitions (one row per status change): id, at (unix s), kind, "
        "namespace, name, uid, field, old, new, severity (info|warning|critical), reason, "
        "message, node, deployment"
    )
    lines.append(
        "- sync_state: kind, resource_version, synced, last_list_at, last_event_at, objects, error"
    )
    lines.append("obj: the trimmed object, JSON as a BLOB.")
    return "\n".join(lines)


# Descriptions are read by the model on every turn: one short paragraph each, no
# indentation, facts only. `compact_tools` trims the schemas the same way.
_HEALTH_DOC = (
    'Start here for "is anything broken?": what is broken now, worst and longest first, '
    "one item per cause (a node's pods and the deployments they leave short under the node; "
    "a deployment's failing pods, or a quota's blocked deployments, under it); the rest in "
    "`more_causes`. Checks: crash loops, image pull/config errors; pods pending, not ready, "
    "failed, unknown, stuck terminating; unavailable deployments, stuck rollouts; NotReady, "
    "pressured, network-less, cordoned, over-committed nodes. `status`: ok|warning|critical, "
    "unknown (cache cannot vouch: unknown_reasons), no_match (filters match nothing). {grace}"
)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _grace_periods_text(h: HealthSettings) -> str:
    """The grace-period rule as the tool descriptions state it, from the settings in force."""
    return (
        f"Grace periods: a pod Pending {_minutes(h.pending_after_s)}, not ready "
        f"{_minutes(h.not_ready_after_s)}, terminating {_minutes(h.terminating_after_s)}; a "
        f"deployment short of replicas {_minutes(h.deployment_unavailable_after_s)} (none "
        f"available {_minutes(h.zero_available_after_s)}); a rollout "
        f"{_minutes(h.rollout_stuck_after_s)}. Until then a problem is pending: "
        "`pending_total`, `pending` with `counts_at`; list_*(problems_only) and get_* apply "
        "the same rule. Past problems (an OOM kill or restarts in the last "
        f"{_minutes(h.oom_window_s)}): `past_total`, listed with include_past=true."
    )


def register_tools(mcp: MCPServer[Any], answers: ClusterAnswers) -> None:
    """Add every tool to `mcp`, answering from `answers`."""

    health_doc = _HEALTH_DOC.format(grace=_grace_periods_text(answers.reader.settings.health))

    @mcp.tool(title="Cluster health report", annotations=_READ_ONLY, description=health_doc)
    async def cluster_health(
        namespace: Namespace = None,
        kind: Annotated[KindName | None, Field(description="only findings about this kind")] = None,
        node: Annotated[str | None, Field(description="only this node and the pods on it")] = None,
        min_severity: Annotated[
            SeverityName | None, Field(description="lowest severity to include")
        ] = None,
        include_past: Annotated[
            bool,
            Field(description="also past problems: OOM kills, restarts in the last hour"),
        ] = False,
        group: Annotated[
            bool, Field(description="one item per cause; false: one per finding")
        ] = True,
        limit: Annotated[
            int,
            Field(ge=1, le=MAX_LIMIT, description="findings per page"),
        ] = HEALTH_LIMIT,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, ClusterHealth]:
        return await _answer(
            lambda: answers.cluster_health(
                namespace=namespace,
                kind=kind,
                node=node,
                min_severity=min_severity,
                include_past=include_past,
                group=group,
                limit=limit,
                cursor=cursor,
            )
        )

    @mcp.tool(title="List pods", annotations=_READ_ONLY)
    async def list_pods(
        namespace: Namespace = None,
        node: Annotated[str | None, Field(description="only pods on this node")] = None,
        phase: Annotated[Phase | None, Field(description="pod phase")] = None,
        status: Annotated[
            str | None,
            Field(description="status as kubectl shows it, e.g. CrashLoopBackOff, Running"),
        ] = None,
        deployment: Annotated[
            str | None, Field(description="only its pods (needs namespace)")
        ] = None,
        label_selector: Selector = None,
        problems_only: ProblemsOnly = False,
        include_past: Annotated[
            bool,
            Field(description="with problems_only: also past problems"),
        ] = False,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, PodList]:
        """Pods matching the filters, by namespace and name. problems_only=true: the pods broken
        now, exactly those cluster_health counts (grace periods apply), worst first.
        CrashLoopBackOff is a status, not a phase. `total` counts all matches; page with
        `cursor`."""
        return await _answer(
            lambda: answers.list_pods(
                namespace=namespace,
                node=node,
                phase=phase,
                status=status,
                deployment=deployment,
                label_selector=label_selector,
                problems_only=problems_only,
                include_past=include_past,
                limit=limit,
                cursor=cursor,
            )
        )

    @mcp.tool(title="Get one pod", annotations=_READ_ONLY)
    async def get_pod(
        namespace: Annotated[str, Field(description="the pod's namespace")],
        name: Annotated[str, Field(description="the pod's name")],
    ) -> Annotated[CallToolResult, PodDetail]:
        """One pod: status, containers (reasons, restarts, requests), conditions, findings
        (current; pending, with counts_at; past), last changes, spec (literal env values
        redacted)."""
        return await _answer(lambda: answers.get_pod(namespace, name))

    @mcp.tool(title="List deployments", annotations=_READ_ONLY)
    async def list_deployments(
        namespace: Namespace = None,
        status: Annotated[
            str | None,
            Field(description="e.g. Available, Progressing, Unavailable"),
        ] = None,
        label_selector: Selector = None,
        problems_only: ProblemsOnly = False,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, DeploymentList]:
        """Deployments: desired, ready, available and updated replicas; rollout in progress."""
        return await _answer(
            lambda: answers.list_deployments(
                namespace=namespace,
                status=status,
                label_selector=label_selector,
                problems_only=problems_only,
                limit=limit,
                cursor=cursor,
            )
        )

    @mcp.tool(title="Get one deployment", annotations=_READ_ONLY)
    async def get_deployment(
        namespace: Annotated[str, Field(description="the deployment's namespace")],
        name: Annotated[str, Field(description="the deployment's name")],
    ) -> Annotated[CallToolResult, DeploymentDetail]:
        """One deployment: conditions, findings (current; pending, with counts_at), recent changes,
        its pods (problems first)."""
        return await _answer(lambda: answers.get_deployment(namespace, name))

    @mcp.tool(title="List nodes", annotations=_READ_ONLY)
    async def list_nodes(
        status: Annotated[
            str | None, Field(description="e.g. Ready, NotReady, Ready,SchedulingDisabled")
        ] = None,
        label_selector: Selector = None,
        problems_only: ProblemsOnly = False,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, NodeList]:
        """Nodes: readiness, bad conditions, pod count, CPU/memory requested and allocatable."""
        return await _answer(
            lambda: answers.list_nodes(
                status=status,
                label_selector=label_selector,
                problems_only=problems_only,
                limit=limit,
                cursor=cursor,
            )
        )

    @mcp.tool(title="Get one node", annotations=_READ_ONLY)
    async def get_node(
        name: Annotated[str, Field(description="the node's name")],
    ) -> Annotated[CallToolResult, NodeDetail]:
        """One node: conditions, taints, capacity, allocatable, requested by its pods;
        cpu_/memory_requested_pct_of_allocatable and pods_pct_of_allocatable (requested ÷
        allocatable, in %); findings (current; pending), recent changes, its pods (problems
        first)."""
        return await _answer(lambda: answers.get_node(name))

    @mcp.tool(title="Recent status changes", annotations=_READ_ONLY)
    async def recent_changes(
        since: Annotated[
            str,
            Field(description="a duration back (30s, 15m, 2h, 7d) or an RFC 3339 time"),
        ] = "1h",
        kind: Annotated[KindName | None, Field(description="only this kind")] = None,
        namespace: Namespace = None,
        name: Annotated[
            str | None, Field(description="only this object (with kind, namespace)")
        ] = None,
        min_severity: Annotated[
            SeverityName | None, Field(description="lowest severity to include")
        ] = None,
        field: Annotated[
            str | None,
            Field(description="only this field, e.g. phase, restarts, condition/Ready"),
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, RecentChanges]:
        """Status transitions since a time: phase, readiness, container reasons, restarts,
        scheduling, deployment conditions and replicas, node conditions and cordons, deletions.
        For the whole window: `total`, counts by kind, severity and field, and `by_object`
        (worst and latest first: first/last time, count, latest old -> new). `items`: the
        changes, newest first, paged with `cursor`."""
        return await _answer(
            lambda: answers.recent_changes(
                since=since,
                kind=kind,
                namespace=namespace,
                name=name,
                min_severity=min_severity,
                field=field,
                limit=limit,
                cursor=cursor,
            )
        )

    @mcp.tool(title="Metric summary", annotations=_READ_ONLY)
    async def metric_summary(
        by: Annotated[
            Literal["namespace", "node", "deployment"], Field(description="how to group pods")
        ] = "namespace",
        sort: Annotated[
            str | None,
            Field(
                description="by namespace: pods|restarts|restarts_last_hour|cpu_request_m|"
                "memory_request_bytes|not_ready|name; node: cpu_requested_pct|"
                "memory_requested_pct|pods|restarts|restarts_last_hour|name; deployment: "
                "unavailable|restarts|restarts_last_hour|pods|cpu_request_m|name"
            ),
        ] = None,
        top: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="how many groups")] = 10,
        namespace: Annotated[
            str | None, Field(description="only this namespace (not with by=node)")
        ] = None,
    ) -> Annotated[CallToolResult, MetricSummary]:
        """Per namespace, node or deployment, the top N by `sort`: pods, readiness, restarts (in
        pods' counters now; restart events in the last hour), phases, statuses, CPU/memory
        requests and limits. Nodes add allocatable and cpu_/memory_requested_pct (requested ÷
        allocatable, in %)."""
        return await _answer(
            lambda: answers.metric_summary(by=by, sort=sort, top=top, namespace=namespace)
        )

    default_rows = min(DEFAULT_LIMIT, answers.query_max_rows)
    default_timeout = min(2.0, answers.query_timeout)

    async def query(
        sql: Annotated[str, Field(description="one SELECT statement")],
        ctx: Context[Any, Any],
        max_rows: int = default_rows,
        timeout_s: float = default_timeout,
    ) -> Annotated[CallToolResult, QueryAnswer]:
        arrived = anyio.current_time()
        client = None
        with contextlib.suppress(ValueError):  # no request context: called in-process
            request = ctx.request_context
            client = request_client(request)
            # The query waits on the store's own connections, capped per client: it
            # gives its /mcp admission slot back so that other calls never wait behind it.
            leave_admission(getattr(request.request, "scope", None))
        return await _answer(
            lambda: answers.query(
                sql, max_rows=max_rows, timeout_s=timeout_s, client=client, arrived=arrived
            )
        )

    # The caps are the operator's (--query-max-rows, --query-timeout), so these two
    # annotations are built here rather than written in the signature: under
    # `from __future__ import annotations` the SDK could not see this function's locals.
    query.__annotations__["max_rows"] = Annotated[
        int, Field(ge=1, le=answers.query_max_rows, description="row cap")
    ]
    query.__annotations__["timeout_s"] = Annotated[
        float,
        Field(
            gt=0,
            le=answers.query_timeout,
            description="time cap, seconds from the call's arrival",
        ),
    ]
    mcp.tool(
        title="Read-only SQL over the watch cache",
        annotations=_READ_ONLY,
        description=(
            "One read-only SQLite SELECT over the watch cache, for what the other tools do not "
            "answer. Functions: JSON, string, math, date/time, aggregate, window; no writes, "
            "PRAGMA, ATTACH or second statement. Capped by max_rows, timeout_s and bytes (take "
            "parts of big values with json_extract or substr). JSON columns are text, e.g. "
            "SELECT namespace, count(*) FROM pods WHERE json_extract(labels,'$.app')='web' "
            "GROUP BY namespace. Tables:\n" + query_schema_text()
        ),
    )(query)
    compact_tools(mcp, TOOL_NAMES)
