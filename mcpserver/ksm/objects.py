"""Objects mode: kube-state-metrics families, one series per pod, deployment and node.

What each family holds follows kube-state-metrics v2:

- `kube_pod_status_phase`: five series per pod, 1 on its phase;
  `kube_pod_status_ready` and the deployment and node `..._condition`
  families: three series per condition (true, false, unknown), 1 on its status.
- `kube_pod_container_status_waiting_reason` and `..._last_terminated_reason`:
  a series only for a container that is waiting (with a reason) or has a
  last termination, with value 1.
- `kube_pod_container_resource_requests`/`_limits`: one series per resource
  the container sets (cpu in cores, memory in bytes), labelled with the node.
- `kube_pod_owner`: one series per owner reference, or one with empty labels.
- `kube_deployment_status_condition`'s reason is the deployment controller's
  reason, "unknown" for any other text (kube-state-metrics bounds it so), ""
  when the condition has none.

Init containers are left out of the container families, as there.

Like kube-state-metrics, each object's lines are rendered once and kept
(`FragmentCache`): a scrape renders only the objects that changed since the
previous one and joins the rest, so its cost follows the churn rather than
the cluster size. The exposition comes out in pieces (a few thousand objects
of one family per piece), each a plain function to run in a worker thread:
the caller streams them, so the event loop never renders and memory never
holds a second copy of a 150k-pod exposition.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, TypeVar

from mcpserver.ksm.families import KSM, Family
from mcpserver.ksm.textformat import cores, escape, resource_value
from store.snapshot import DeploymentMetrics, NodeMetrics, ObjectsSnapshot, PodMetrics

__all__ = ["CHUNK", "FragmentCache", "ObjectsCache", "Piece", "objects_pieces"]

Piece = Callable[[], str]
T = TypeVar("T")

# Objects per piece: one piece holds the GIL for a few milliseconds at most
# (the interpreter lets the event loop in every 5 ms anyway), and thread hops
# stay negligible.
CHUNK = 4000

_P = "\x00"  # where an object's common labels go in a line template
_PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")
_STATUSES = ("true", "false", "unknown")

# The deployment controller's condition reasons; any other text is exported as "unknown".
_DEPLOYMENT_REASONS = frozenset(
    {
        "MinimumReplicasAvailable",
        "MinimumReplicasUnavailable",
        "NewReplicaSetAvailable",
        "NewReplicaSetCreated",
        "FoundNewReplicaSet",
        "ReplicaSetUpdated",
        "ReplicaSetCreateError",
        "ProgressDeadlineExceeded",
        "DeploymentPaused",
        "DeploymentResumed",
    }
)


def _one_hot(metric: str, label: str, values: Sequence[str]) -> dict[str, str]:
    """Per value: the lines of every value, 1 on that one; "" maps to all zeros."""

    def lines(current: str | None) -> str:
        return "".join(f'{metric}{{{_P},{label}="{v}"}} {int(v == current)}\n' for v in values)

    out = {v: lines(v) for v in values}
    out[""] = lines(None)
    return out


_PHASE_LINES = _one_hot("kube_pod_status_phase", "phase", _PHASES)
_READY_LINES = {
    status.capitalize(): text
    for status, text in _one_hot("kube_pod_status_ready", "condition", _STATUSES).items()
}


# --- one object's lines, per family --------------------------------------------------------


def _pod_fragments(p: PodMetrics) -> tuple[str, ...]:
    """A pod's lines for each of `POD_FAMILIES`, in that order."""
    lab = f'namespace="{escape(p.namespace)}",pod="{escape(p.name)}",uid="{escape(p.uid)}"'
    node = escape(p.node)
    kind = name = ""
    for o in p.owners:
        if o.controller:
            kind, name = escape(o.kind), escape(o.name)
            break
    info = (
        f'kube_pod_info{{{lab},host_ip="{escape(p.host_ip)}",pod_ip="{escape(p.pod_ip)}",'
        f'node="{node}",created_by_kind="{kind}",created_by_name="{name}",'
        f'priority_class="{escape(p.priority_class)}",'
        f'host_network="{"true" if p.host_network else "false"}"}} 1\n'
    )
    owner = (
        "".join(
            f'kube_pod_owner{{{lab},owner_kind="{escape(o.kind)}",owner_name="{escape(o.name)}",'
            f'owner_is_controller="{"true" if o.controller else "false"}"}} 1\n'
            for o in p.owners
        )
        or f'kube_pod_owner{{{lab},owner_kind="",owner_name="",owner_is_controller=""}} 1\n'
    )
    phase = _PHASE_LINES.get(p.phase, _PHASE_LINES[""]).replace(_P, lab) if p.phase else ""
    ready = _READY_LINES.get(p.ready, _READY_LINES[""]).replace(_P, lab) if p.ready else ""
    restarts: list[str] = []
    waiting: list[str] = []
    terminated: list[str] = []
    requests: list[str] = []
    limits: list[str] = []
    for c in p.containers:
        if c.init:
            continue
        cl = f'{lab},container="{escape(c.name)}"'
        restarts.append(f"kube_pod_container_status_restarts_total{{{cl}}} {c.restarts}\n")
        if c.state == "waiting" and c.waiting_reason:
            waiting.append(
                f"kube_pod_container_status_waiting_reason"
                f'{{{cl},reason="{escape(c.waiting_reason)}"}} 1\n'
            )
        if c.last_terminated_reason is not None or c.last_terminated_exit_code is not None:
            terminated.append(
                "kube_pod_container_status_last_terminated_reason"
                f'{{{cl},reason="{escape(c.last_terminated_reason or "")}"}} 1\n'
            )
        for out, metric, cpu, memory in (
            (
                requests,
                "kube_pod_container_resource_requests",
                c.cpu_request_m,
                c.memory_request_bytes,
            ),
            (limits, "kube_pod_container_resource_limits", c.cpu_limit_m, c.memory_limit_bytes),
        ):
            if cpu is not None:
                out.append(
                    f'{metric}{{{cl},node="{node}",resource="cpu",unit="core"}} {cores(cpu)}\n'
                )
            if memory is not None:
                out.append(
                    f'{metric}{{{cl},node="{node}",resource="memory",unit="byte"}} {memory}\n'
                )
    return (
        info,
        owner,
        phase,
        ready,
        "".join(restarts),
        "".join(waiting),
        "".join(terminated),
        "".join(requests),
        "".join(limits),
    )


POD_FAMILIES: tuple[Family, ...] = tuple(
    KSM[name]
    for name in (
        "kube_pod_info",
        "kube_pod_owner",
        "kube_pod_status_phase",
        "kube_pod_status_ready",
        "kube_pod_container_status_restarts_total",
        "kube_pod_container_status_waiting_reason",
        "kube_pod_container_status_last_terminated_reason",
        "kube_pod_container_resource_requests",
        "kube_pod_container_resource_limits",
    )
)

_DEPLOYMENT_VALUES: tuple[tuple[str, Callable[[DeploymentMetrics], int]], ...] = (
    ("kube_deployment_spec_replicas", lambda d: d.replicas),
    ("kube_deployment_status_replicas", lambda d: d.status_replicas),
    ("kube_deployment_status_replicas_ready", lambda d: d.ready_replicas),
    ("kube_deployment_status_replicas_available", lambda d: d.available_replicas),
    ("kube_deployment_status_replicas_unavailable", lambda d: d.unavailable_replicas),
    ("kube_deployment_status_replicas_updated", lambda d: d.updated_replicas),
    ("kube_deployment_status_observed_generation", lambda d: d.observed_generation),
    ("kube_deployment_metadata_generation", lambda d: d.generation),
)

DEPLOYMENT_FAMILIES: tuple[Family, ...] = (
    *(KSM[name] for name, _value in _DEPLOYMENT_VALUES),
    KSM["kube_deployment_status_condition"],
)


def _deployment_fragments(d: DeploymentMetrics) -> tuple[str, ...]:
    """A deployment's lines for each of `DEPLOYMENT_FAMILIES`, in that order."""
    lab = f'namespace="{escape(d.namespace)}",deployment="{escape(d.name)}"'
    conditions: list[str] = []
    for ctype, cond in d.conditions.items():
        reason = cond.reason or ""
        if reason and reason not in _DEPLOYMENT_REASONS:
            reason = "unknown"
        status = cond.status.lower()
        head = (
            f'kube_deployment_status_condition{{{lab},reason="{escape(reason)}",'
            f'condition="{escape(ctype)}",status="'
        )
        conditions.extend(f'{head}{s}"}} {int(s == status)}\n' for s in _STATUSES)
    return (
        *(f"{name}{{{lab}}} {value(d)}\n" for name, value in _DEPLOYMENT_VALUES),
        "".join(conditions),
    )


NODE_FAMILIES: tuple[Family, ...] = tuple(
    KSM[name]
    for name in (
        "kube_node_info",
        "kube_node_spec_unschedulable",
        "kube_node_spec_taint",
        "kube_node_status_condition",
        "kube_node_status_capacity",
        "kube_node_status_allocatable",
    )
)


def _resources(metric: str, lab: str, resources: dict[str, str]) -> str:
    lines = []
    for resource, quantity in resources.items():
        found = resource_value(resource, quantity)
        if found is not None:
            name, unit, value = found
            lines.append(f'{metric}{{{lab},resource="{name}",unit="{unit}"}} {value}\n')
    return "".join(lines)


def _node_fragments(n: NodeMetrics) -> tuple[str, ...]:
    """A node's lines for each of `NODE_FAMILIES`, in that order."""
    lab = f'node="{escape(n.name)}"'
    info = (
        f'kube_node_info{{{lab},kernel_version="{escape(n.kernel_version)}",'
        f'os_image="{escape(n.os_image)}",'
        f'container_runtime_version="{escape(n.container_runtime_version)}",'
        f'kubelet_version="{escape(n.kubelet_version)}",'
        f'kubeproxy_version="{escape(n.kubeproxy_version)}",pod_cidr="{escape(n.pod_cidr)}",'
        f'provider_id="{escape(n.provider_id)}",system_uuid="{escape(n.system_uuid)}",'
        f'internal_ip="{escape(n.internal_ip)}"}} 1\n'
    )
    taints = "".join(
        f'kube_node_spec_taint{{{lab},key="{escape(t.key)}",'
        f'value="{escape(t.value or "")}",effect="{escape(t.effect)}"}} 1\n'
        for t in n.taints
    )
    conditions: list[str] = []
    for ctype, cond in n.conditions.items():
        status = cond.status.lower()
        head = f'kube_node_status_condition{{{lab},condition="{escape(ctype)}",status="'
        conditions.extend(f'{head}{s}"}} {int(s == status)}\n' for s in _STATUSES)
    return (
        info,
        f"kube_node_spec_unschedulable{{{lab}}} {int(n.unschedulable)}\n",
        taints,
        "".join(conditions),
        _resources("kube_node_status_capacity", lab, n.capacity),
        _resources("kube_node_status_allocatable", lab, n.allocatable),
    )


# --- the cache and the pieces -------------------------------------------------------------


class FragmentCache:
    """Rendered lines per object, kept from one scrape to the next while the object is unchanged.

    An entry is reused when the object is the same (the reader hands back
    the same `PodMetrics` for an unchanged pod) or equal; objects gone from
    the snapshot are dropped. Concurrent renders are safe: each builds a new
    map, the last one stays.
    """

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[Any, tuple[str, ...]]] = {}
        self.rendered = 0  # objects rendered (not reused) by the last call

    def render(
        self,
        objects: Sequence[T],
        key: Callable[[T], Hashable],
        make: Callable[[T], tuple[str, ...]],
    ) -> list[tuple[str, ...]]:
        old = self._entries
        new: dict[Hashable, tuple[Any, tuple[str, ...]]] = {}
        out: list[tuple[str, ...]] = []
        rendered = 0
        for obj in objects:
            k = key(obj)
            entry = old.get(k)
            if entry is None or not (entry[0] is obj or entry[0] == obj):
                entry = (obj, make(obj))
                rendered += 1
            new[k] = entry
            out.append(entry[1])
        self._entries = new
        self.rendered = rendered
        return out


class ObjectsCache:
    """One `FragmentCache` per kind for objects mode, one for summary mode's nodes.

    Lives as long as the collector; `clear()` gives back objects mode's
    memory when summary mode is in use.
    """

    def __init__(self) -> None:
        self.summary_nodes = FragmentCache()
        self.clear()

    def clear(self) -> None:
        """Forget every rendered object (not summary mode's nodes)."""
        self.pods = FragmentCache()
        self.deployments = FragmentCache()
        self.nodes = FragmentCache()


def _kind_pieces(
    families: Sequence[Family],
    objects: Sequence[T],
    render: Callable[[Sequence[T]], list[tuple[str, ...]]],
    *,
    openmetrics: bool,
) -> Iterator[Piece]:
    rendered: list[list[tuple[str, ...]]] = []

    def prepare() -> str:
        rendered.append(render(objects))
        return ""

    yield prepare
    for i, family in enumerate(families):
        header = family.header(openmetrics=openmetrics)
        for start in range(0, max(len(objects), 1), CHUNK):

            def piece(i: int = i, start: int = start, header: str = header) -> str:
                lines = "".join(f[i] for f in rendered[0][start : start + CHUNK])
                return header + lines if start == 0 else lines

            yield piece


def objects_pieces(
    snapshot: ObjectsSnapshot, *, openmetrics: bool, cache: ObjectsCache | None = None
) -> Iterator[Piece]:
    """The kube-state-metrics families of `snapshot`, as pieces to run in order."""
    cache = cache or ObjectsCache()
    yield from _kind_pieces(
        POD_FAMILIES,
        snapshot.pods,
        lambda pods: cache.pods.render(pods, lambda p: p.uid, _pod_fragments),
        openmetrics=openmetrics,
    )
    yield from _kind_pieces(
        DEPLOYMENT_FAMILIES,
        snapshot.deployments,
        lambda deps: cache.deployments.render(
            deps, lambda d: (d.namespace, d.name), _deployment_fragments
        ),
        openmetrics=openmetrics,
    )
    yield from _kind_pieces(
        NODE_FAMILIES,
        snapshot.nodes,
        lambda nodes: cache.nodes.render(nodes, lambda n: n.name, _node_fragments),
        openmetrics=openmetrics,
    )
