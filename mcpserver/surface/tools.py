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
from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from mcpserver.errors import InvalidArgument, NotFound
from mcpserver.surface.answers import (
    ClusterHealth,
    DeploymentDetail,
    DeploymentList,
    MetricSummary,
    NodeDetail,
    NodeList,
    ObjectDetail,
    ObjectList,
    PodDetail,
    PodList,
    QueryAnswer,
    RecentChanges,
)
from mcpserver.surface.audit import request_client
from mcpserver.surface.render import render
from mcpserver.surface.service import DEFAULT_LIMIT, HEALTH_LIMIT, MAX_LIMIT, ClusterAnswers
from mcpserver.surface.tool_schemas import compact_tools
from mcpserver.web.admission import arrived_at, leave_admission
from store import TABLES, Column, HealthSettings, Kind

__all__ = ["TOOL_NAMES", "query_schema_text", "register_tools"]

TOOL_NAMES = (
    "cluster_health",
    "list_pods",
    "get_pod",
    "list_deployments",
    "get_deployment",
    "list_nodes",
    "get_node",
    "list_objects",
    "get_object",
    "recent_changes",
    "metric_summary",
    "query",
)

# destructiveHint is left out: the protocol defines it only for tools that are not read-only.
_READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

M = TypeVar("M", bound=BaseModel)

Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Field(description="next_cursor of the last page")]
Namespace = str | None
Selector = Annotated[str | None, Field(description="e.g. app=web,tier!=db")]
ProblemsOnly = Annotated[
    bool, Field(description="only broken now (as cluster_health), worst first")
]
Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
SeverityName = Literal["info", "warning", "critical"]
_KIND_NAMES = [k.value for k in Kind]


def _known_kind(value: str) -> str:
    if value not in _KIND_NAMES:
        raise ValueError(f"choose one of {', '.join(_KIND_NAMES)}")
    return value


# Every stored kind (`kinds.registry`), published as an enum.
KindName = Annotated[
    str, AfterValidator(_known_kind), WithJsonSchema({"type": "string", "enum": _KIND_NAMES})
]


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
    """The tables the `query` tool can read, generated from the store's own table specs.

    The columns every object table has are named once, then each table's own.
    """

    def named(column: Column) -> str:
        return f"{column.name}{'*' if column.codec == 'json' or column.name == 'obj' else ''}"

    specs = list(TABLES.values())
    shared = [c for c in specs[0].columns if all(c.name in s.names for s in specs[1:])]
    shared_names = {c.name for c in shared}
    lines = [f"- {', '.join(s.table for s in specs)}: " + ", ".join(named(c) for c in shared)]
    for spec in specs:
        own = ", ".join(named(c) for c in spec.columns if c.name not in shared_names)
        lines.append(f"- {spec.table}: {own}")
    lines.append(
        "- transitions (status changes): id, at (unix s), kind, namespace, name, uid, "
        "field, old, new, severity (info|warning|critical), reason, message, node, deployment"
    )
    lines.append(
        "- sync_state: kind, resource_version, synced, last_list_at, last_event_at, objects, error"
    )
    return "\n".join(lines)


# Descriptions are read by the model on every turn: one short paragraph each, no
# indentation, facts only. `compact_tools` trims the schemas the same way.
_HEALTH_DOC = (
    'Start here for "is anything broken?": the findings of every watched kind (pods, '
    "workloads, nodes), worst and longest first, grouped by cause. {grace}"
)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _grace_periods_text(h: HealthSettings) -> str:
    """The grace-period rule as the tool descriptions state it, from the settings in force."""
    return (
        f"Grace periods (pending until then): pod Pending {_minutes(h.pending_after_s)}, not "
        f"ready {_minutes(h.not_ready_after_s)}, terminating {_minutes(h.terminating_after_s)}; "
        f"workload short {_minutes(h.deployment_unavailable_after_s)} (none ready "
        f"{_minutes(h.zero_available_after_s)}); rollout {_minutes(h.rollout_stuck_after_s)}; "
        "also in list_*(problems_only), get_*. Past: OOM kills, restarts in the last "
        f"{_minutes(h.oom_window_s)}."
    )


def register_tools(mcp: MCPServer[Any], answers: ClusterAnswers) -> None:
    """Add every tool to `mcp`, answering from `answers`."""

    health_doc = _HEALTH_DOC.format(grace=_grace_periods_text(answers.reader.settings.health))

    @mcp.tool(title="Cluster health report", annotations=_READ_ONLY, description=health_doc)
    async def cluster_health(
        namespace: Namespace = None,
        kind: KindName | None = None,
        node: Annotated[str | None, Field(description="this node and its pods")] = None,
        min_severity: SeverityName | None = None,
        include_past: Annotated[
            bool,
            Field(description="also past problems: OOM kills, restarts in the last hour"),
        ] = False,
        group: Annotated[
            bool, Field(description="one item per cause; false: one per finding")
        ] = True,
        limit: Annotated[
            int,
            Field(ge=1, le=MAX_LIMIT),
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
        phase: Phase | None = None,
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
        """Pods by namespace and name. CrashLoopBackOff is a status, not a phase: filter with
        status or problems_only."""
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
        namespace: str,
        name: str,
    ) -> Annotated[CallToolResult, PodDetail]:
        """One pod in detail: status, containers, conditions, findings (current, pending, past),
        recent changes, spec."""
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
        namespace: str,
        name: str,
    ) -> Annotated[CallToolResult, DeploymentDetail]:
        """One deployment in detail: conditions, findings, recent changes, its pods (problems
        first)."""
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
        name: str,
    ) -> Annotated[CallToolResult, NodeDetail]:
        """One node in detail: conditions, taints, requested vs allocatable (also in %),
        findings, recent changes, its pods (problems first)."""
        return await _answer(lambda: answers.get_node(name))

    @mcp.tool(title="List objects of any kind", annotations=_READ_ONLY)
    async def list_objects(
        kind: KindName,
        namespace: Namespace = None,
        status: Annotated[str | None, Field(description="as the kind derives it")] = None,
        label_selector: Selector = None,
        problems_only: ProblemsOnly = False,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, ObjectList]:
        """Objects of any watched kind (StatefulSet, ...), one line each, by name."""
        return await _answer(
            lambda: answers.list_objects(
                kind=kind,
                namespace=namespace,
                status=status,
                label_selector=label_selector,
                problems_only=problems_only,
                limit=limit,
                cursor=cursor,
            )
        )

    @mcp.tool(title="Get one object of any kind", annotations=_READ_ONLY)
    async def get_object(
        kind: KindName,
        name: str,
        namespace: Annotated[str, Field(description="empty for cluster-scoped kinds")] = "",
    ) -> Annotated[CallToolResult, ObjectDetail]:
        """One object in detail: status, conditions, findings, recent changes, its pods."""
        return await _answer(lambda: answers.get_object(kind, namespace, name))

    @mcp.tool(title="Recent status changes", annotations=_READ_ONLY)
    async def recent_changes(
        since: Annotated[
            str,
            Field(description="a duration back (30s, 15m, 2h, 7d) or an RFC 3339 time"),
        ] = "1h",
        kind: KindName | None = None,
        namespace: Namespace = None,
        name: Annotated[
            str | None, Field(description="only this object (with kind, namespace)")
        ] = None,
        min_severity: SeverityName | None = None,
        field: Annotated[
            str | None,
            Field(description="only this field, e.g. phase, restarts, condition/Ready"),
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, RecentChanges]:
        """What changed since a time: status transitions of every watched kind (phase,
        readiness, container reasons, restarts, conditions, replicas, cordons, deletions)."""
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
            Literal["namespace", "node", "deployment"], Field(description="group pods by")
        ] = "namespace",
        sort: Annotated[
            str | None,
            Field(
                description="pods, restarts, restarts_last_hour, name; namespace: "
                "cpu_request_m, memory_request_bytes, not_ready; node: cpu_requested_pct, "
                "memory_requested_pct; deployment: unavailable, cpu_request_m"
            ),
        ] = None,
        top: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 10,
        namespace: Annotated[
            str | None, Field(description="only this namespace (not with by=node)")
        ] = None,
    ) -> Annotated[CallToolResult, MetricSummary]:
        """Pod totals per namespace, node or deployment (see `groups`), the top N by `sort`."""
        return await _answer(
            lambda: answers.metric_summary(by=by, sort=sort, top=top, namespace=namespace)
        )

    default_rows = min(DEFAULT_LIMIT, answers.query_max_rows)
    default_timeout = min(2.0, answers.query_timeout)

    async def query(
        sql: str,
        ctx: Context[Any, Any],
        max_rows: int = default_rows,
        timeout_s: float = default_timeout,
    ) -> Annotated[CallToolResult, QueryAnswer]:
        arrived = anyio.current_time()
        client = None
        with contextlib.suppress(ValueError):  # no request context: called in-process
            request = ctx.request_context
            client = request_client(request)
            scope = getattr(request.request, "scope", None)
            # Its time counts from the request's arrival, its wait for admission included.
            arrived = arrived_at(scope) or arrived
            # The query waits on the store's own connections, capped per client: it
            # gives its /mcp admission slot back so that other calls never wait behind it.
            leave_admission(scope)
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
            "A read-only SQLite SELECT over the watch cache, for what other tools do not answer "
            "(JSON, string, math, date/time, aggregate, window functions), capped by max_rows, "
            "timeout_s and bytes: take parts of big values (json_extract, substr). Tables "
            "(* JSON):\n" + query_schema_text()
        ),
    )(query)
    compact_tools(mcp, TOOL_NAMES)
