"""Summary mode: per-namespace and per-node aggregates, from the store's in-memory view.

Above a few tens of thousands of objects, one series per object costs the
agent seconds per scrape and Prometheus millions of series. Summary mode
exports what dashboards mostly sum anyway — pods by phase and status,
readiness, restarts, requests and limits, deployment replicas — per
namespace and per node. The series count grows with namespaces and nodes,
never with pods, and the numbers come from the aggregates the store keeps
incrementally, so a scrape never reads the pod tables at all.
"""

from __future__ import annotations

from collections.abc import Iterator

from mcpserver.ksm.families import SUMMARY
from mcpserver.ksm.objects import Piece
from mcpserver.ksm.textformat import cores, escape
from store.snapshot import AggregatesSnapshot, TotalsCopy

__all__ = ["summary_pieces"]


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


def _nodes_piece(snap: AggregatesSnapshot, *, openmetrics: bool) -> str:
    """Every node family in one pass over the nodes (ordered by name)."""
    totals = {t.key: t for t in snap.nodes_totals}
    states = {s.name: s for s in snap.nodes}
    out: dict[str, list[str]] = {
        name: [family.header(openmetrics=openmetrics)]
        for name, family in SUMMARY.items()
        if name.startswith("kube_watchcache_node_")
    }
    pods = out["kube_watchcache_node_pods"]
    requests = out["kube_watchcache_node_resource_requests"]
    limits = out["kube_watchcache_node_resource_limits"]
    allocatable = out["kube_watchcache_node_allocatable"]
    ready = out["kube_watchcache_node_ready"]
    unschedulable = out["kube_watchcache_node_unschedulable"]
    for node in sorted(totals.keys() | states.keys()):
        lab = f'node="{escape(node)}"'
        t = totals.get(node)
        if t is not None:
            for phase, n in t.phases.items():
                pods.append(f'kube_watchcache_node_pods{{{lab},phase="{escape(phase)}"}} {n}\n')
            requests.append(
                _requests("kube_watchcache_node_resource_requests", lab, t, limits=False)
            )
            limits.append(_requests("kube_watchcache_node_resource_limits", lab, t, limits=True))
        state = states.get(node)
        if state is not None:
            head = f"kube_watchcache_node_allocatable{{{lab},resource="
            allocatable.append(
                f'{head}"cpu",unit="core"}} {cores(state.cpu_allocatable_m)}\n'
                f'{head}"memory",unit="byte"}} {state.memory_allocatable_bytes}\n'
                f'{head}"pods",unit="integer"}} {state.pods_allocatable}\n'
            )
            ready.append(
                f'kube_watchcache_node_ready{{{lab},status="{escape(state.ready.lower())}"}} 1\n'
            )
            unschedulable.append(
                f"kube_watchcache_node_unschedulable{{{lab}}} {int(state.unschedulable)}\n"
            )
    return "".join(line for lines in out.values() for line in lines)


def summary_pieces(snap: AggregatesSnapshot, *, openmetrics: bool) -> Iterator[Piece]:
    """The summary families of `snap`, as two pieces to run in a worker thread each."""
    yield lambda: _namespaces_piece(snap, openmetrics=openmetrics)
    yield lambda: _nodes_piece(snap, openmetrics=openmetrics)
