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

Init containers are left out of the container families, as there. The
exposition is produced in pieces (one family, or a few thousand objects of
one family, per piece), each piece a plain function to run in a worker
thread: the caller streams them out, so neither the event loop nor memory
has to hold a 150k-pod exposition at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from mcpserver.ksm.families import KSM, Family
from mcpserver.ksm.textformat import cores, escape, resource_value
from store.snapshot import DeploymentMetrics, NodeMetrics, ObjectsSnapshot, PodMetrics

__all__ = ["CHUNK", "Piece", "objects_pieces"]

Piece = Callable[[], str]

# Objects rendered per piece: small enough that one piece holds the GIL for
# tens of milliseconds at most, large enough that thread hops cost nothing.
CHUNK = 4000

_P = "\x00"  # where an object's common labels go in a line template

_PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")


def _one_hot(metric: str, label: str, values: Sequence[str], lower: bool = False) -> dict[str, str]:
    """Per possible value, the lines of every value with 1 on that one (and an all-0 entry)."""

    def lines(current: str | None) -> str:
        return "".join(f'{metric}{{{_P},{label}="{v}"}} {int(v == current)}\n' for v in values)

    out = {(v.capitalize() if lower else v): lines(v) for v in values}
    out[""] = lines(None)
    return out


_PHASE_LINES = _one_hot("kube_pod_status_phase", "phase", _PHASES)
_READY_LINES = _one_hot("kube_pod_status_ready", "condition", ("true", "false", "unknown"), True)
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


def _pod_labels(pods: Sequence[PodMetrics]) -> list[str]:
    return [
        f'namespace="{escape(p.namespace)}",pod="{escape(p.name)}",uid="{escape(p.uid)}"'
        for p in pods
    ]


# --- pod families: (pods, their label prefixes) -> lines ----------------------------------------


def _pod_info(pods: Sequence[PodMetrics], labels: Sequence[str], out: list[str]) -> None:
    for p, lab in zip(pods, labels, strict=True):
        kind = name = ""
        for o in p.owners:
            if o.controller:
                kind, name = escape(o.kind), escape(o.name)
                break
        out.append(
            f'kube_pod_info{{{lab},host_ip="{escape(p.host_ip)}",pod_ip="{escape(p.pod_ip)}",'
            f'node="{escape(p.node)}",created_by_kind="{kind}",created_by_name="{name}",'
            f'priority_class="{escape(p.priority_class)}",'
            f'host_network="{"true" if p.host_network else "false"}"}} 1\n'
        )


def _pod_owner(pods: Sequence[PodMetrics], labels: Sequence[str], out: list[str]) -> None:
    for p, lab in zip(pods, labels, strict=True):
        if not p.owners:
            out.append(
                f'kube_pod_owner{{{lab},owner_kind="",owner_name="",owner_is_controller=""}} 1\n'
            )
        for o in p.owners:
            out.append(
                f'kube_pod_owner{{{lab},owner_kind="{escape(o.kind)}",owner_name="{escape(o.name)}",'
                f'owner_is_controller="{"true" if o.controller else "false"}"}} 1\n'
            )


def _pod_phase(pods: Sequence[PodMetrics], labels: Sequence[str], out: list[str]) -> None:
    lines = _PHASE_LINES
    empty = lines[""]
    for p, lab in zip(pods, labels, strict=True):
        if p.phase:
            out.append(lines.get(p.phase, empty).replace(_P, lab))


def _pod_ready(pods: Sequence[PodMetrics], labels: Sequence[str], out: list[str]) -> None:
    lines = _READY_LINES
    empty = lines[""]
    for p, lab in zip(pods, labels, strict=True):
        if p.ready is not None:
            out.append(lines.get(p.ready, empty).replace(_P, lab))


def _restarts(pods: Sequence[PodMetrics], labels: Sequence[str], out: list[str]) -> None:
    for p, lab in zip(pods, labels, strict=True):
        for c in p.containers:
            if not c.init:
                out.append(
                    f'kube_pod_container_status_restarts_total{{{lab},container="{escape(c.name)}"}}'
                    f" {c.restarts}\n"
                )


def _waiting(pods: Sequence[PodMetrics], labels: Sequence[str], out: list[str]) -> None:
    for p, lab in zip(pods, labels, strict=True):
        for c in p.containers:
            if not c.init and c.state == "waiting" and c.waiting_reason:
                out.append(
                    f'kube_pod_container_status_waiting_reason{{{lab},container="{escape(c.name)}",'
                    f'reason="{escape(c.waiting_reason)}"}} 1\n'
                )


def _last_terminated(pods: Sequence[PodMetrics], labels: Sequence[str], out: list[str]) -> None:
    for p, lab in zip(pods, labels, strict=True):
        for c in p.containers:
            if not c.init and (
                c.last_terminated_reason is not None or c.last_terminated_exit_code is not None
            ):
                out.append(
                    "kube_pod_container_status_last_terminated_reason"
                    f'{{{lab},container="{escape(c.name)}",'
                    f'reason="{escape(c.last_terminated_reason or "")}"}} 1\n'
                )


def _resources(
    metric: str, field: str
) -> Callable[[Sequence[PodMetrics], Sequence[str], list[str]], None]:
    cpu_field, memory_field = f"cpu_{field}_m", f"memory_{field}_bytes"

    def lines(pods: Sequence[PodMetrics], labels: Sequence[str], out: list[str]) -> None:
        for p, lab in zip(pods, labels, strict=True):
            node = escape(p.node)
            for c in p.containers:
                if c.init:
                    continue
                cpu, memory = getattr(c, cpu_field), getattr(c, memory_field)
                where = f'{metric}{{{lab},container="{escape(c.name)}",node="{node}",resource='
                if cpu is not None:
                    out.append(f'{where}"cpu",unit="core"}} {cores(cpu)}\n')
                if memory is not None:
                    out.append(f'{where}"memory",unit="byte"}} {memory}\n')

    return lines


_POD_FAMILIES: tuple[
    tuple[Family, Callable[[Sequence[PodMetrics], Sequence[str], list[str]], None]], ...
] = (
    (KSM["kube_pod_info"], _pod_info),
    (KSM["kube_pod_owner"], _pod_owner),
    (KSM["kube_pod_status_phase"], _pod_phase),
    (KSM["kube_pod_status_ready"], _pod_ready),
    (KSM["kube_pod_container_status_restarts_total"], _restarts),
    (KSM["kube_pod_container_status_waiting_reason"], _waiting),
    (KSM["kube_pod_container_status_last_terminated_reason"], _last_terminated),
    (
        KSM["kube_pod_container_resource_requests"],
        _resources("kube_pod_container_resource_requests", "request"),
    ),
    (
        KSM["kube_pod_container_resource_limits"],
        _resources("kube_pod_container_resource_limits", "limit"),
    ),
)


# --- deployment families ----------------------------------------------------------------------


def _deployment_value(
    metric: str, value: Callable[[DeploymentMetrics], int]
) -> tuple[Family, Callable[[Sequence[DeploymentMetrics], Sequence[str], list[str]], None]]:
    def lines(deps: Sequence[DeploymentMetrics], labels: Sequence[str], out: list[str]) -> None:
        for d, lab in zip(deps, labels, strict=True):
            out.append(f"{metric}{{{lab}}} {value(d)}\n")

    return KSM[metric], lines


def _deployment_condition(
    deps: Sequence[DeploymentMetrics], labels: Sequence[str], out: list[str]
) -> None:
    for d, lab in zip(deps, labels, strict=True):
        for ctype, cond in d.conditions.items():
            reason = cond.reason or ""
            if reason and reason not in _DEPLOYMENT_REASONS:
                reason = "unknown"
            status = cond.status.lower()
            head = (
                f'kube_deployment_status_condition{{{lab},reason="{escape(reason)}",'
                f'condition="{escape(ctype)}",status="'
            )
            for s in _STATUSES:
                out.append(f'{head}{s}"}} {int(s == status)}\n')


_DEPLOYMENT_FAMILIES = (
    _deployment_value("kube_deployment_spec_replicas", lambda d: d.replicas),
    _deployment_value("kube_deployment_status_replicas", lambda d: d.status_replicas),
    _deployment_value("kube_deployment_status_replicas_ready", lambda d: d.ready_replicas),
    _deployment_value("kube_deployment_status_replicas_available", lambda d: d.available_replicas),
    _deployment_value(
        "kube_deployment_status_replicas_unavailable", lambda d: d.unavailable_replicas
    ),
    _deployment_value("kube_deployment_status_replicas_updated", lambda d: d.updated_replicas),
    (KSM["kube_deployment_status_condition"], _deployment_condition),
    _deployment_value(
        "kube_deployment_status_observed_generation", lambda d: d.observed_generation
    ),
    _deployment_value("kube_deployment_metadata_generation", lambda d: d.generation),
)


def _deployment_labels(deps: Sequence[DeploymentMetrics]) -> list[str]:
    return [f'namespace="{escape(d.namespace)}",deployment="{escape(d.name)}"' for d in deps]


# --- node families ----------------------------------------------------------------------------


def _node_info(nodes: Sequence[NodeMetrics], labels: Sequence[str], out: list[str]) -> None:
    for n, lab in zip(nodes, labels, strict=True):
        out.append(
            f'kube_node_info{{{lab},kernel_version="{escape(n.kernel_version)}",'
            f'os_image="{escape(n.os_image)}",'
            f'container_runtime_version="{escape(n.container_runtime_version)}",'
            f'kubelet_version="{escape(n.kubelet_version)}",'
            f'kubeproxy_version="{escape(n.kubeproxy_version)}",pod_cidr="{escape(n.pod_cidr)}",'
            f'provider_id="{escape(n.provider_id)}",system_uuid="{escape(n.system_uuid)}",'
            f'internal_ip="{escape(n.internal_ip)}"}} 1\n'
        )


def _node_unschedulable(
    nodes: Sequence[NodeMetrics], labels: Sequence[str], out: list[str]
) -> None:
    for n, lab in zip(nodes, labels, strict=True):
        out.append(f"kube_node_spec_unschedulable{{{lab}}} {int(n.unschedulable)}\n")


def _node_taint(nodes: Sequence[NodeMetrics], labels: Sequence[str], out: list[str]) -> None:
    for n, lab in zip(nodes, labels, strict=True):
        for t in n.taints:
            out.append(
                f'kube_node_spec_taint{{{lab},key="{escape(t.key)}",'
                f'value="{escape(t.value or "")}",effect="{escape(t.effect)}"}} 1\n'
            )


def _node_condition(nodes: Sequence[NodeMetrics], labels: Sequence[str], out: list[str]) -> None:
    for n, lab in zip(nodes, labels, strict=True):
        for ctype, cond in n.conditions.items():
            status = cond.status.lower()
            head = f'kube_node_status_condition{{{lab},condition="{escape(ctype)}",status="'
            for s in _STATUSES:
                out.append(f'{head}{s}"}} {int(s == status)}\n')


def _node_resources(
    metric: str, field: str
) -> Callable[[Sequence[NodeMetrics], Sequence[str], list[str]], None]:
    def lines(nodes: Sequence[NodeMetrics], labels: Sequence[str], out: list[str]) -> None:
        for n, lab in zip(nodes, labels, strict=True):
            resources: dict[str, str] = getattr(n, field)
            for resource, quantity in resources.items():
                found = resource_value(resource, quantity)
                if found is not None:
                    name, unit, value = found
                    out.append(f'{metric}{{{lab},resource="{name}",unit="{unit}"}} {value}\n')

    return lines


_NODE_FAMILIES: tuple[
    tuple[Family, Callable[[Sequence[NodeMetrics], Sequence[str], list[str]], None]], ...
] = (
    (KSM["kube_node_info"], _node_info),
    (KSM["kube_node_spec_unschedulable"], _node_unschedulable),
    (KSM["kube_node_spec_taint"], _node_taint),
    (KSM["kube_node_status_condition"], _node_condition),
    (KSM["kube_node_status_capacity"], _node_resources("kube_node_status_capacity", "capacity")),
    (
        KSM["kube_node_status_allocatable"],
        _node_resources("kube_node_status_allocatable", "allocatable"),
    ),
)


# --- pieces -------------------------------------------------------------------------------------


class _Labels:
    """Every object's common labels, escaped once per scrape, on first use (in a worker thread)."""

    def __init__(self, items: Sequence[Any], make: Callable[[Sequence[Any]], list[str]]) -> None:
        self._items = items
        self._make = make
        self._labels: list[str] | None = None

    def get(self) -> list[str]:
        if self._labels is None:
            self._labels = self._make(self._items)
        return self._labels


def _family_pieces(
    family: Family,
    lines: Callable[[Sequence[Any], Sequence[str], list[str]], None],
    items: Sequence[Any],
    labels: _Labels,
    *,
    openmetrics: bool,
) -> Iterator[Piece]:
    header = family.header(openmetrics=openmetrics)
    if not items:
        yield lambda: header
        return
    for start in range(0, len(items), CHUNK):

        def piece(start: int = start) -> str:
            out = [header] if start == 0 else []
            stop = start + CHUNK
            lines(items[start:stop], labels.get()[start:stop], out)
            return "".join(out)

        yield piece


def objects_pieces(snapshot: ObjectsSnapshot, *, openmetrics: bool) -> Iterator[Piece]:
    """The kube-state-metrics families of `snapshot`, as pieces to run in order."""
    pod_labels = _Labels(snapshot.pods, _pod_labels)
    for family, lines in _POD_FAMILIES:
        yield from _family_pieces(family, lines, snapshot.pods, pod_labels, openmetrics=openmetrics)
    dep_labels = _Labels(snapshot.deployments, _deployment_labels)
    for family, dlines in _DEPLOYMENT_FAMILIES:
        yield from _family_pieces(
            family, dlines, snapshot.deployments, dep_labels, openmetrics=openmetrics
        )
    node_labels = _Labels(snapshot.nodes, lambda nodes: [f'node="{escape(n.name)}"' for n in nodes])
    for family, nlines in _NODE_FAMILIES:
        yield from _family_pieces(
            family, nlines, snapshot.nodes, node_labels, openmetrics=openmetrics
        )
