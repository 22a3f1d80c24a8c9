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

from collections.abc import Iterator, Sequence

from mcpserver.ksm.families import SUMMARY, Family
from mcpserver.ksm.objects import CHUNK, Piece
from mcpserver.ksm.textformat import cores, escape
from store.snapshot import AggregatesSnapshot, TotalsCopy
from store.view import NodeState

__all__ = ["summary_pieces"]

_STATUSES = ("true", "false", "unknown")


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


class _Nodes:
    """Node names with their pod sums and states, indexed once per scrape on first use."""

    def __init__(self, snap: AggregatesSnapshot) -> None:
        self._snap = snap
        self._index: tuple[list[str], dict[str, TotalsCopy], dict[str, NodeState]] | None = None

    def get(self) -> tuple[list[str], dict[str, TotalsCopy], dict[str, NodeState]]:
        if self._index is None:
            totals = {t.key: t for t in self._snap.nodes_totals}
            states = {s.name: s for s in self._snap.nodes}
            self._index = (sorted(totals.keys() | states.keys()), totals, states)
        return self._index


def _node_lines(nodes: _Nodes, family: Family, start: int) -> list[str]:
    metric = family.name
    names, totals, states = nodes.get()
    keys: Sequence[str] = names[start : start + CHUNK]
    out: list[str] = []
    for node in keys:
        lab = f'node="{escape(node)}"'
        t = totals.get(node)
        state = states.get(node)
        if metric == "kube_watchcache_node_pods" and t is not None:
            for phase, n in t.phases.items():
                out.append(f'{metric}{{{lab},phase="{escape(phase)}"}} {n}\n')
        elif metric == "kube_watchcache_node_resource_requests" and t is not None:
            out.append(_requests(metric, lab, t, limits=False))
        elif metric == "kube_watchcache_node_resource_limits" and t is not None:
            out.append(_requests(metric, lab, t, limits=True))
        elif metric == "kube_watchcache_node_allocatable" and state is not None:
            head = f"{metric}{{{lab},resource="
            out.append(
                f'{head}"cpu",unit="core"}} {cores(state.cpu_allocatable_m)}\n'
                f'{head}"memory",unit="byte"}} {state.memory_allocatable_bytes}\n'
                f'{head}"pods",unit="integer"}} {state.pods_allocatable}\n'
            )
        elif metric == "kube_watchcache_node_ready" and state is not None:
            ready = state.ready.lower()
            out.extend(f'{metric}{{{lab},status="{s}"}} {int(s == ready)}\n' for s in _STATUSES)
        elif metric == "kube_watchcache_node_unschedulable" and state is not None:
            out.append(f"{metric}{{{lab}}} {int(state.unschedulable)}\n")
    return out


def summary_pieces(snap: AggregatesSnapshot, *, openmetrics: bool) -> Iterator[Piece]:
    """The summary families of `snap`, as pieces to run in order (in a worker thread)."""
    yield lambda: _namespaces_piece(snap, openmetrics=openmetrics)
    nodes = _Nodes(snap)
    count = len(snap.nodes_totals) + len(snap.nodes)  # an upper bound; extra pieces are empty
    for name, family in SUMMARY.items():
        if not name.startswith("kube_watchcache_node_"):
            continue
        header = family.header(openmetrics=openmetrics)
        for start in range(0, max(count, 1), CHUNK):

            def piece(family: Family = family, start: int = start, header: str = header) -> str:
                body = _node_lines(nodes, family, start)
                return ("" if start else header) + "".join(body)

            yield piece
