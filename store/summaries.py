"""Metric summaries by namespace, node and deployment, and for the whole cluster.

Everything here is computed from the writer's incrementally maintained
`View` (sums per namespace/node/deployment) plus one indexed history query
for "restarts in the last hour" (the caller passes its result in), so the
cost follows the number of groups asked for, never the number of pods.

Percentages are requests over allocatable (what the scheduler sees), None
when the node reports no allocatable amount. Requests and limits sum only
pods that are not terminated.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

import msgspec

from store.errors import InvalidQuery
from store.view import Totals, View

__all__ = [
    "ClusterSummary",
    "DeploymentSummary",
    "DeploymentsOverview",
    "NamespaceSummary",
    "NodeSummary",
    "NodesOverview",
    "PodStats",
    "cluster_summary",
    "deployment_summaries",
    "namespace_summaries",
    "node_summaries",
]


class PodStats(msgspec.Struct, kw_only=True):
    """Pods of one group (or of the cluster): counts, readiness, restarts, resources."""

    pods: int = 0
    ready: int = 0
    ready_ratio: float | None = None  # ready / pods; None without pods
    restarts: int = 0  # current restart counts, summed
    restarts_last_hour: int = 0  # restarts recorded in history in the last hour
    phases: dict[str, int] = {}
    statuses: dict[str, int] = {}
    cpu_request_m: int = 0
    cpu_limit_m: int = 0
    memory_request_bytes: int = 0
    memory_limit_bytes: int = 0


class NamespaceSummary(PodStats, kw_only=True):
    namespace: str
    deployments: int = 0


class NodeSummary(PodStats, kw_only=True):
    node: str
    status: str = "Unknown"
    node_ready: str = "Unknown"
    unschedulable: bool = False
    cpu_allocatable_m: int = 0
    memory_allocatable_bytes: int = 0
    pods_allocatable: int = 0
    cpu_requested_pct: float | None = None
    memory_requested_pct: float | None = None
    pods_pct: float | None = None


class DeploymentSummary(PodStats, kw_only=True):
    namespace: str
    name: str
    status: str = "Unknown"
    desired: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0


class NodesOverview(msgspec.Struct, kw_only=True):
    nodes: int
    ready: int
    not_ready: int
    cordoned: int
    statuses: dict[str, int]
    cpu_allocatable_m: int
    memory_allocatable_bytes: int
    pods_allocatable: int
    cpu_requested_pct: float | None
    memory_requested_pct: float | None
    pods_pct: float | None


class DeploymentsOverview(msgspec.Struct, kw_only=True):
    deployments: int
    statuses: dict[str, int]
    desired_replicas: int
    available_replicas: int
    ready_replicas: int
    degraded: int  # fewer available replicas than desired
    down: int  # none available of some desired


class ClusterSummary(msgspec.Struct, kw_only=True):
    generated_at: float
    namespaces: int
    pods: PodStats
    nodes: NodesOverview
    deployments: DeploymentsOverview
    top_namespaces_by_pods: list[NamespaceSummary]
    top_namespaces_by_restarts: list[NamespaceSummary]
    top_nodes_by_cpu: list[NodeSummary]
    top_nodes_by_memory: list[NodeSummary]
    top_deployments_by_restarts: list[DeploymentSummary]


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole > 0 else None


def _stats(t: Totals | None, restarts_last_hour: int) -> dict[str, Any]:
    if t is None:
        return {"restarts_last_hour": restarts_last_hour}
    return {
        "pods": t.pods,
        "ready": t.ready,
        "ready_ratio": round(t.ready / t.pods, 4) if t.pods else None,
        "restarts": t.restarts,
        "restarts_last_hour": restarts_last_hour,
        "phases": dict(t.phases),
        "statuses": dict(t.statuses),
        "cpu_request_m": t.cpu_request_m,
        "cpu_limit_m": t.cpu_limit_m,
        "memory_request_bytes": t.memory_request_bytes,
        "memory_limit_bytes": t.memory_limit_bytes,
    }


class _Desc:
    """Reverses the order of one sort-key component."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Desc) -> bool:
        return bool(self.v > other.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and bool(self.v == other.v)

    __hash__ = None  # type: ignore[assignment]


def _check_sort(sort_by: str, allowed: Iterable[str]) -> None:
    if sort_by not in allowed:
        raise InvalidQuery(f"cannot sort by {sort_by!r}; choose from {', '.join(sorted(allowed))}")


_NAMESPACE_SORTS = (
    "pods",
    "restarts",
    "restarts_last_hour",
    "cpu_request_m",
    "memory_request_bytes",
    "not_ready",
    "name",
)


def namespace_summaries(
    view: View,
    restarts_last_hour: dict[Any, int],
    *,
    namespace: str | None = None,
    sort_by: str = "pods",
    limit: int = 50,
) -> list[NamespaceSummary]:
    """Per-namespace pod statistics, the top `limit` by `sort_by` (descending; "name" ascending)."""
    _check_sort(sort_by, _NAMESPACE_SORTS)
    by = view.by_namespace
    if namespace is not None:
        chosen = [namespace] if namespace in by else []
    elif sort_by == "name":
        chosen = sorted(by)[:limit]
    elif sort_by == "restarts_last_hour":
        chosen = _best([(n, k) for k, n in restarts_last_hour.items() if n > 0 and k in by], limit)
    elif sort_by == "not_ready":
        chosen = _best([(t.pods - t.ready, k) for k, t in by.items()], limit)
    else:
        chosen = _best([(getattr(t, sort_by), k) for k, t in by.items()], limit)
    return [
        NamespaceSummary(
            namespace=ns,
            deployments=view.deployments_by_namespace.get(ns, 0),
            **_stats(view.by_namespace.get(ns), restarts_last_hour.get(ns, 0)),
        )
        for ns in chosen
    ]


_NODE_SORTS = (
    "cpu_requested_pct",
    "memory_requested_pct",
    "pods",
    "restarts",
    "restarts_last_hour",
    "name",
)


def _node_summary(view: View, name: str, restarts_last_hour: dict[Any, int]) -> NodeSummary:
    uid_state = view.nodes.get(name)
    totals = view.by_node.get(name)
    extra: dict[str, Any] = {}
    if uid_state is not None:
        s = uid_state[1]
        extra = {
            "status": s.status,
            "node_ready": s.ready,
            "unschedulable": s.unschedulable,
            "cpu_allocatable_m": s.cpu_allocatable_m,
            "memory_allocatable_bytes": s.memory_allocatable_bytes,
            "pods_allocatable": s.pods_allocatable,
            "cpu_requested_pct": _pct(totals.cpu_request_m if totals else 0, s.cpu_allocatable_m),
            "memory_requested_pct": _pct(
                totals.memory_request_bytes if totals else 0, s.memory_allocatable_bytes
            ),
            "pods_pct": _pct(totals.pods if totals else 0, s.pods_allocatable),
        }
    return NodeSummary(node=name, **extra, **_stats(totals, restarts_last_hour.get(name, 0)))


def _node_scores(
    view: View, sort_by: str, restarts_last_hour: dict[Any, int], limit: int
) -> list[Any]:
    """(score, node) pairs: from the maintained rankings when they suffice, else a scan."""
    by = view.by_node
    if sort_by in ("cpu_requested_pct", "memory_requested_pct"):
        cpu = sort_by == "cpu_requested_pct"
        if limit <= (ranking := view.node_cpu_top if cpu else view.node_memory_top).k:
            return [(score, name) for name, score in ranking.top(limit)]
        out: list[Any] = []
        for name, (_uid, state) in view.nodes.items():
            alloc = state.cpu_allocatable_m if cpu else state.memory_allocatable_bytes
            if alloc > 0:
                t = by.get(name)
                used = (t.cpu_request_m if cpu else t.memory_request_bytes) if t else 0
                out.append((used / alloc, name))
        return out
    if sort_by == "restarts_last_hour":
        return [(n, k) for k, n in restarts_last_hour.items() if n > 0 and k is not None]
    if sort_by == "pods":
        return [(t.pods, k) for k, t in by.items()]
    return [(t.restarts, k) for k, t in by.items() if t.restarts]


def _best(pairs: list[Any], limit: int) -> list[Any]:
    """Keys of the `limit` highest scores, highest first, ties by key."""
    top = heapq.nlargest(limit, pairs)
    top.sort(key=lambda p: (_Desc(p[0]), p[1]))
    return [k for _score, k in top]


def node_summaries(
    view: View,
    restarts_last_hour: dict[Any, int],
    *,
    node: str | None = None,
    sort_by: str = "cpu_requested_pct",
    limit: int = 50,
) -> list[NodeSummary]:
    """Per-node pods and requested vs allocatable, the top `limit` by `sort_by`."""
    _check_sort(sort_by, _NODE_SORTS)
    if node is not None:
        chosen = [node] if node in view.nodes or node in view.by_node else []
    elif sort_by == "name":
        chosen = sorted(set(view.nodes) | set(view.by_node))[:limit]
    else:
        chosen = _best(_node_scores(view, sort_by, restarts_last_hour, limit), limit)
    return [_node_summary(view, n, restarts_last_hour) for n in chosen]


_DEPLOYMENT_SORTS = (
    "restarts_last_hour",
    "restarts",
    "unavailable",
    "pods",
    "cpu_request_m",
    "name",
)


def deployment_summaries(
    view: View,
    restarts_last_hour: dict[Any, int],
    *,
    namespace: str | None = None,
    name: str | None = None,
    sort_by: str = "unavailable",
    limit: int = 50,
) -> list[DeploymentSummary]:
    """Per-deployment replicas and the statistics of its pods, the top `limit` by `sort_by`."""
    _check_sort(sort_by, _DEPLOYMENT_SORTS)
    keys: Iterable[tuple[str, str]] = view.deployments.keys()
    if namespace is not None:
        keys = [k for k in keys if k[0] == namespace]
    if name is not None:
        keys = [k for k in keys if k[1] == name]
    by, deps = view.by_deployment, view.deployments
    filtered = namespace is not None or name is not None
    if sort_by == "name":
        chosen = sorted(keys)[:limit]
    elif sort_by == "restarts_last_hour":
        pairs = [(n, k) for k, n in restarts_last_hour.items() if n > 0 and k in deps]
        if filtered:
            wanted = set(keys)
            pairs = [p for p in pairs if p[1] in wanted]
        chosen = _best(pairs, limit)
    elif sort_by == "unavailable":
        chosen = _best(
            [(deps[k][1].replicas - deps[k][1].available_replicas, k) for k in keys], limit
        )
    else:
        attr = {"restarts": "restarts", "pods": "pods", "cpu_request_m": "cpu_request_m"}[sort_by]
        pairs = [(getattr(t, attr), k) for k, t in by.items() if k in deps]
        if filtered:
            wanted = set(keys)
            pairs = [p for p in pairs if p[1] in wanted]
        chosen = _best(pairs, limit)
    out = []
    for key in chosen:
        s = deps[key][1]
        out.append(
            DeploymentSummary(
                namespace=key[0],
                name=key[1],
                status=s.status,
                desired=s.replicas,
                ready_replicas=s.ready_replicas,
                available_replicas=s.available_replicas,
                updated_replicas=s.updated_replicas,
                **_stats(by.get(key), restarts_last_hour.get(key, 0)),
            )
        )
    return out


def cluster_summary(
    view: View,
    *,
    restarts_by_namespace: dict[Any, int],
    restarts_by_deployment: dict[Any, int],
    now: float,
    top: int = 5,
) -> ClusterSummary:
    """The whole cluster in one answer, with short top-N lists."""
    nt, dt = view.node_totals, view.deployment_totals
    cluster = view.cluster
    return ClusterSummary(
        generated_at=now,
        namespaces=len(view.by_namespace),
        pods=PodStats(**_stats(cluster, sum(restarts_by_namespace.values()))),
        nodes=NodesOverview(
            nodes=nt["nodes"],
            ready=nt["ready"],
            not_ready=nt["nodes"] - nt["ready"],
            cordoned=nt["cordoned"],
            statuses=dict(view.node_statuses),
            cpu_allocatable_m=nt["cpu_allocatable_m"],
            memory_allocatable_bytes=nt["memory_allocatable_bytes"],
            pods_allocatable=nt["pods_allocatable"],
            cpu_requested_pct=_pct(cluster.cpu_request_m, nt["cpu_allocatable_m"]),
            memory_requested_pct=_pct(cluster.memory_request_bytes, nt["memory_allocatable_bytes"]),
            pods_pct=_pct(cluster.pods, nt["pods_allocatable"]),
        ),
        deployments=DeploymentsOverview(
            deployments=dt["deployments"],
            statuses=dict(view.deployment_statuses),
            desired_replicas=dt["desired"],
            available_replicas=dt["available"],
            ready_replicas=dt["ready"],
            degraded=dt["degraded"],
            down=dt["down"],
        ),
        top_namespaces_by_pods=namespace_summaries(
            view, restarts_by_namespace, sort_by="pods", limit=top
        ),
        top_namespaces_by_restarts=namespace_summaries(
            view, restarts_by_namespace, sort_by="restarts_last_hour", limit=top
        ),
        top_nodes_by_cpu=node_summaries(view, {}, sort_by="cpu_requested_pct", limit=top),
        top_nodes_by_memory=node_summaries(view, {}, sort_by="memory_requested_pct", limit=top),
        top_deployments_by_restarts=deployment_summaries(
            view, restarts_by_deployment, sort_by="restarts_last_hour", limit=top
        ),
    )
