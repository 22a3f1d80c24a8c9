"""Summary mode: per-namespace and per-node aggregates, from the store's in-memory view.

Above a few tens of thousands of objects, one series per object costs the
agent seconds per scrape and Prometheus millions of series. Summary mode
exports what dashboards mostly sum anyway — pods by phase and status,
readiness, restarts, requests and limits, deployment replicas — per
namespace and per node. The series count grows with namespaces and nodes,
never with pods, and the numbers come from the aggregates the store keeps
incrementally, so a scrape never reads the pod tables at all.

In auto mode above the object limit, summary mode also keeps what
kubernetes-mixin's alerts need (the objects renderer builds it with
`scope="alerts"`, in its own process): every kube_deployment_*,
kube_statefulset_*, kube_node_* family and those of the other non-pod
kinds, whole — those kinds stay in the hundreds or thousands where pods
reach the hundred thousands — and the kube_pod_* families for the pods that
`needs_attention` only: not Running and Ready (Succeeded ones aside), or
with a container waiting. That is what KubePodCrashLooping,
KubeContainerWaiting, KubePodNotReady, the replica-mismatch and node alerts
read; a healthy pod has no series there, which those alerts read as "no
problem". Left out: `ALERT_SCOPE_DROPS`, the per-container requests and
limits, because a sum over the problem pods alone would be a wrong number
where an absent one is visibly missing (the per-namespace and per-node
requests and limits above stand in). An explicit `--metrics-mode summary`
exports the aggregates alone, and never reads the pod tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kinds.node import NodeState
from mcpserver.ksm.families import SUMMARY
from mcpserver.ksm.objects import FragmentCache, Piece
from mcpserver.ksm.textformat import cores, escape
from store.snapshot import AggregatesSnapshot, PodMetrics, TotalsCopy

__all__ = ["ALERT_SCOPE_DROPS", "needs_attention", "summary_pieces"]

# Families left out of the alert scope: their sums (the mixin's namespace and node requests
# recording rules, the overcommit alerts) need every pod.
ALERT_SCOPE_DROPS = frozenset(
    {"kube_pod_container_resource_requests", "kube_pod_container_resource_limits"}
)


def needs_attention(pod: PodMetrics) -> bool:
    """Whether summary mode keeps `pod`'s kube_pod_* series (see the module docstring).

    Succeeded pods are done, not in trouble; every other pod counts unless it
    is Running, Ready and has no container waiting.
    """
    if pod.phase == "Succeeded":
        return False
    if pod.phase != "Running" or pod.ready != "True":
        return True
    return any(c.state == "waiting" for c in pod.containers if not c.init)


def _requests(metric: str, lab: str, t: TotalsCopy, *, limits: bool) -> str:
    cpu = t.cpu_limit_m if limits else t.cpu_request_m
    memory = t.memory_limit_bytes if limits else t.memory_request_bytes
    return (
        f'{metric}{{{lab},resource="cpu",unit="core"}} {cores(cpu)}\n'
        f'{metric}{{{lab},resource="memory",unit="byte"}} {memory}\n'
    )


def _namespace_families(snap: AggregatesSnapshot) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {
        name: [] for name in SUMMARY if name.startswith("kube_watchcache_namespace_")
    }
    for t in snap.namespaces:
        lab = f'namespace="{escape(t.key)}"'
        for phase, n in t.phases.items():
            out["kube_watchcache_namespace_pods"].append(
                f'kube_watchcache_namespace_pods{{{lab},phase="{escape(phase)}"}} {n}\n'
            )
        out["kube_watchcache_namespace_pods_ready"].append(
            f"kube_watchcache_namespace_pods_ready{{{lab}}} {t.ready}\n"
        )
        for status, n in t.statuses.items():
            out["kube_watchcache_namespace_pods_by_status"].append(
                f'kube_watchcache_namespace_pods_by_status{{{lab},status="{escape(status)}"}} {n}\n'
            )
        out["kube_watchcache_namespace_container_restarts"].append(
            f"kube_watchcache_namespace_container_restarts{{{lab}}} {t.restarts}\n"
        )
        for metric, limits in (
            ("kube_watchcache_namespace_resource_requests", False),
            ("kube_watchcache_namespace_resource_limits", True),
        ):
            out[metric].append(_requests(metric, lab, t, limits=limits))
    for d in snap.deployments_by_namespace():
        lab = f'namespace="{escape(d.namespace)}"'
        for status, n in d.statuses.items():
            out["kube_watchcache_namespace_deployments"].append(
                f'kube_watchcache_namespace_deployments{{{lab},status="{escape(status)}"}} {n}\n'
            )
        for state, n in (
            ("desired", d.desired),
            ("ready", d.ready),
            ("available", d.available),
            ("updated", d.updated),
            ("unavailable", d.unavailable),
        ):
            out["kube_watchcache_namespace_deployment_replicas"].append(
                f'kube_watchcache_namespace_deployment_replicas{{{lab},state="{state}"}} {n}\n'
            )
    return out


def _namespaces_piece(snap: AggregatesSnapshot, *, openmetrics: bool) -> str:
    parts: list[str] = []
    for name, lines in _namespace_families(snap).items():
        parts.append(SUMMARY[name].header(openmetrics=openmetrics))
        parts.extend(lines)
    return "".join(parts)


_NODE_FAMILIES = tuple(f for name, f in SUMMARY.items() if name.startswith("kube_watchcache_node_"))

# What a node's lines are made of: its pod sums (phases, requests, limits) and its own state.
_NodeInputs = tuple[Any, ...]


def _node_inputs(node: str, t: TotalsCopy | None, state: NodeState | None) -> _NodeInputs:
    sums = (
        (t.phases, t.cpu_request_m, t.cpu_limit_m, t.memory_request_bytes, t.memory_limit_bytes)
        if t is not None
        else None
    )
    own = (
        (
            state.ready,
            state.unschedulable,
            state.cpu_allocatable_m,
            state.memory_allocatable_bytes,
            state.pods_allocatable,
        )
        if state is not None
        else None
    )
    return (node, sums, own)


def _node_fragments(inputs: _NodeInputs) -> tuple[str, ...]:
    """One node's lines for each of `_NODE_FAMILIES`, in that order."""
    node, sums, own = inputs
    lab = f'node="{escape(node)}"'
    pods = requests = limits = allocatable = ready = unschedulable = ""
    if sums is not None:
        phases, cpu_req, cpu_lim, mem_req, mem_lim = sums
        pods = "".join(
            f'kube_watchcache_node_pods{{{lab},phase="{escape(phase)}"}} {n}\n'
            for phase, n in phases.items()
        )
        for metric, cpu, memory in (
            ("kube_watchcache_node_resource_requests", cpu_req, mem_req),
            ("kube_watchcache_node_resource_limits", cpu_lim, mem_lim),
        ):
            text = (
                f'{metric}{{{lab},resource="cpu",unit="core"}} {cores(cpu)}\n'
                f'{metric}{{{lab},resource="memory",unit="byte"}} {memory}\n'
            )
            if metric.endswith("requests"):
                requests = text
            else:
                limits = text
    if own is not None:
        status, cordoned, cpu_alloc, mem_alloc, pods_alloc = own
        head = f"kube_watchcache_node_allocatable{{{lab},resource="
        allocatable = (
            f'{head}"cpu",unit="core"}} {cores(cpu_alloc)}\n'
            f'{head}"memory",unit="byte"}} {mem_alloc}\n'
            f'{head}"pods",unit="integer"}} {pods_alloc}\n'
        )
        ready = f'kube_watchcache_node_ready{{{lab},status="{escape(status.lower())}"}} 1\n'
        unschedulable = f"kube_watchcache_node_unschedulable{{{lab}}} {int(cordoned)}\n"
    by_family = {
        "kube_watchcache_node_pods": pods,
        "kube_watchcache_node_resource_requests": requests,
        "kube_watchcache_node_resource_limits": limits,
        "kube_watchcache_node_allocatable": allocatable,
        "kube_watchcache_node_ready": ready,
        "kube_watchcache_node_unschedulable": unschedulable,
    }
    return tuple(by_family[f.name] for f in _NODE_FAMILIES)


def _nodes_piece(snap: AggregatesSnapshot, *, openmetrics: bool, cache: FragmentCache) -> str:
    """Every node family, ordered by node name; only nodes whose numbers changed are rendered."""
    totals = {t.key: t for t in snap.nodes_totals}
    states = {s.name: s for s in snap.nodes}
    inputs = [
        _node_inputs(node, totals.get(node), states.get(node))
        for node in sorted(totals.keys() | states.keys())
    ]
    fragments = cache.render(inputs, lambda i: i[0], _node_fragments)
    parts: list[str] = []
    for i, family in enumerate(_NODE_FAMILIES):
        parts.append(family.header(openmetrics=openmetrics))
        parts.append("".join(f[i] for f in fragments))
    return "".join(parts)


def summary_pieces(
    snap: AggregatesSnapshot, *, openmetrics: bool, cache: FragmentCache | None = None
) -> Iterator[Piece]:
    """The summary families of `snap`, as two pieces to run in a worker thread each.

    `cache` keeps each node's lines between scrapes (a node's lines change
    only when its pod sums or its own state do).
    """
    nodes = cache if cache is not None else FragmentCache()
    yield lambda: _namespaces_piece(snap, openmetrics=openmetrics)
    yield lambda: _nodes_piece(snap, openmetrics=openmetrics, cache=nodes)
