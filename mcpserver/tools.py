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

Limit = Annotated[
    int, Field(ge=1, le=MAX_LIMIT, description=f"items per page (default {DEFAULT_LIMIT})")
]
Cursor = Annotated[str | None, Field(description="next_cursor from the previous page")]
Namespace = Annotated[str | None, Field(description="only this namespace")]
Selector = Annotated[str | None, Field(description="label selector, e.g. app=web,tier!=db")]
ProblemsOnly = Annotated[
    bool,
    Field(
        description="only objects broken now: a current health finding, past its grace period "
        "(as cluster_health counts them), worst first"
    ),
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
        lines.append(f"- {spec.table}: {cols}, obj (BLOB: the trimmed object as JSON)")
    lines.append(
        "- transitions (history, one row per status change): id, at (unix seconds), kind, "
        "namespace, name, uid, field, old, new, severity (info|warning|critical), reason, "
        "message, node, deployment"
    )
    lines.append(
        "- sync_state: kind, resource_version, synced, last_list_at, last_event_at, objects, error"
    )
    return "\n".join(lines)


_HEALTH_DOC = """What is broken right now, worst and longest broken first, grouped by cause.

Findings from the health analyzers (crash loops, image pull and config errors,
pods pending or not ready too long, failed, unknown or stuck-terminating pods,
unavailable deployments and stuck rollouts, NotReady, pressured, network-less or
cordoned nodes, over-committed nodes), each with `since`. One item per cause:
pods on a broken node (and deployments short because of them) under the node,
the failing pods of a deployment under the deployment, deployments a namespace
quota blocks under the quota, with counts and a few names; the causes past the
page are listed compactly in `more_causes`. `status` is ok/warning/critical, or
`unknown` when the watch cache cannot vouch for the scope (not yet listed,
watch failing: see unknown_reasons), or `no_match` when the filters match nothing.

{grace}
Start here for "is anything broken?".
"""


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _grace_periods_text(h: HealthSettings) -> str:
    """The grace-period rule as the tool descriptions state it, from the settings in force."""
    return (
        f"Grace periods: a pod Pending counts after {_minutes(h.pending_after_s)}, "
        f"running but not ready after {_minutes(h.not_ready_after_s)}, stuck terminating after "
        f"{_minutes(h.terminating_after_s)}; a deployment short of replicas after "
        f"{_minutes(h.deployment_unavailable_after_s)} (none available: "
        f"{_minutes(h.zero_available_after_s)}), a rollout as stuck after "
        f"{_minutes(h.rollout_stuck_after_s)}. Until then the problem is *pending*: counted "
        "in `pending_total`, listed in `pending` with `counts_at` (when it will count), and "
        "shown the same way by the get_* tools; list_*(problems_only=true) and this report "
        "apply the same rule, so they always name the same objects. Past problems (an OOM "
        f"kill or restarts within the last {_minutes(h.oom_window_s)}) are apart: "
        "`past_total`, listed with include_past=true."
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
            Field(
                description="also list past problems (OOM kills and restarts in the last hour "
                "of pods that run now)"
            ),
        ] = False,
        group: Annotated[
            bool,
            Field(
                description="one item per cause, with the pods it explains (default); false: "
                "one item per finding"
            ),
        ] = True,
        limit: Annotated[
            int,
            Field(ge=1, le=MAX_LIMIT, description=f"findings per page (default {HEALTH_LIMIT})"),
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
            Field(
                description="derived status as kubectl shows it, e.g. CrashLoopBackOff, "
                "ImagePullBackOff, OOMKilled, Terminating, Running, Completed"
            ),
        ] = None,
        deployment: Annotated[
            str | None, Field(description="only pods of this deployment (needs namespace)")
        ] = None,
        label_selector: Selector = None,
        problems_only: ProblemsOnly = False,
        include_past: Annotated[
            bool,
            Field(
                description="with problems_only: also pods whose problem is past (an OOM "
                "kill or restarts in the last hour)"
            ),
        ] = False,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, PodList]:
        """Pods matching the filters, ordered by namespace and name, one compact line each.

        `problems_only=true` answers "which pods are broken now?": the pods with a
        current finding, exactly those cluster_health counts (same grace periods: a
        problem still pending is not listed), worst and longest broken first.
        CrashLoopBackOff is a status, not a phase: filter with status or problems_only.
        `total` counts all matches; page with `cursor`.
        """
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
        """One pod in detail: status columns, containers (waiting/terminated reasons,
        restarts, requests), conditions, its health findings (current; pending ones, inside
        their grace period, with counts_at; past ones), its last status changes, and its
        spec with literal env values redacted."""
        return await _answer(lambda: answers.get_pod(namespace, name))

    @mcp.tool(title="List deployments", annotations=_READ_ONLY)
    async def list_deployments(
        namespace: Namespace = None,
        status: Annotated[
            str | None,
            Field(description="derived status, e.g. Available, Progressing, Unavailable"),
        ] = None,
        label_selector: Selector = None,
        problems_only: ProblemsOnly = False,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, DeploymentList]:
        """Deployments: desired/ready/available/updated replicas; is a rollout running."""
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
        """One deployment: conditions, findings (current, and pending ones still inside their
        grace period, with counts_at), recent changes, and its pods (problems first)."""
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
        """Nodes: readiness, bad conditions, pod count, requested vs allocatable CPU/memory."""
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
        """One node: conditions, taints, capacity, allocatable, requested by its pods and
        utilization, findings (current and pending), recent changes, and its pods
        (problems first)."""
        return await _answer(lambda: answers.get_node(name))

    @mcp.tool(title="Recent status changes", annotations=_READ_ONLY)
    async def recent_changes(
        since: Annotated[
            str,
            Field(description="a duration back from now (30s, 15m, 2h, 7d) or an RFC 3339 time"),
        ] = "1h",
        kind: Annotated[KindName | None, Field(description="only this kind")] = None,
        namespace: Namespace = None,
        name: Annotated[
            str | None, Field(description="only this object (with kind and namespace)")
        ] = None,
        min_severity: Annotated[
            SeverityName | None, Field(description="lowest severity to include")
        ] = None,
        field: Annotated[
            str | None,
            Field(description="only this field, e.g. phase, ready, restarts, condition/Ready"),
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, RecentChanges]:
        """What changed since a time: status transitions (phase, readiness, container
        waiting/terminated reasons, restarts, node assignment, deployment conditions and
        replicas, node conditions and cordons, deletions).

        Answers "what changed in the last 10 minutes?": `total` changes in the whole window,
        counts by kind, severity and field, and `by_object`: the objects that changed, worst
        and most recent first, each with first/last time, how many times and its latest
        old -> new. `items` is the detailed list, newest first, paged with `cursor`.
        """
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
                description="namespace: pods, restarts, restarts_last_hour, cpu_request_m, "
                "memory_request_bytes, "
                "not_ready, name; node: cpu_requested_pct, memory_requested_pct, pods, restarts, "
                "restarts_last_hour, name; deployment: unavailable, restarts, "
                "restarts_last_hour, pods, "
                "cpu_request_m, name"
            ),
        ] = None,
        top: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="how many groups")] = 10,
        namespace: Annotated[
            str | None, Field(description="only this namespace (namespace/deployment grouping)")
        ] = None,
    ) -> Annotated[CallToolResult, MetricSummary]:
        """Pod counts, readiness, restarts (total and last hour), phases, statuses and CPU/memory
        requests and limits per namespace, node or deployment, top-N by the sort key; nodes add
        allocatable and requested percentages."""
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
        int, Field(ge=1, le=answers.query_max_rows, description=f"row cap (default {default_rows})")
    ]
    query.__annotations__["timeout_s"] = Annotated[
        float,
        Field(
            gt=0,
            le=answers.query_timeout,
            description="time cap in seconds, counted from the call's arrival",
        ),
    ]
    mcp.tool(
        title="Read-only SQL over the watch cache",
        annotations=_READ_ONLY,
        description=(
            "One read-only SQLite SELECT over the watch cache, for questions the other tools "
            "do not cover. Refused: writes, PRAGMA, ATTACH, more than one statement, and "
            "functions other than the JSON, string, math, date/time, aggregate and window ones. "
            "Capped in rows (max_rows), time (timeout_s, counted from the call's arrival) and "
            "bytes (of the answer and of each value; select parts of big values with "
            "json_extract or substr). JSON columns are text: use json_extract / json_each, "
            "e.g. SELECT namespace, count(*) FROM pods WHERE json_extract(labels, '$.app') = 'web' "
            "GROUP BY namespace. Tables:\n" + query_schema_text()
        ),
    )(query)
