"""Pods: every fact the agent knows about them, gathered into `SPEC`.

The pod is the kind with the most facts and the most events, so its module
is a package: `decode` (from the API object to the row, env values
redacted), `row` (the row and what the writer remembers), `status` (the
tracked status and its severities, with fast paths), `health` (analyzers).
This module adds what answers and /metrics show, and the spec.
"""

from __future__ import annotations

from typing import Any, Final

from kinds.common import age_seconds
from kinds.names import Kind
from kinds.pod import health, status
from kinds.pod.decode import RESOURCE, normalize
from kinds.pod.health import pod_restarts_rising
from kinds.pod.row import ContainerRow, PodRow, PodState, pod_state, same_indexed
from kinds.spec import KindSpec, MetricFamily, Signature

__all__ = [
    "METRIC_FAMILIES",
    "RESOURCE",
    "SPEC",
    "ContainerRow",
    "PodRow",
    "PodState",
    "item",
    "normalize",
    "pod_reason",
    "pod_restarts_rising",
]

# Waiting reasons that are part of a normal start, not a problem to point at.
_STARTING = frozenset({"ContainerCreating", "PodInitializing"})


def pod_reason(row: PodRow) -> str | None:
    """The most telling reason a pod is not healthy, or None when nothing points at one."""
    app = [c for c in row.containers if not c.init]
    for c in app:
        if c.waiting_reason and c.waiting_reason not in _STARTING:
            return f"{c.name}: {c.waiting_reason}"
    for c in row.containers:
        if c.init and c.waiting_reason and c.waiting_reason not in _STARTING:
            return f"init {c.name}: {c.waiting_reason}"
    if row.reason:
        return row.reason
    if row.unschedulable:
        return "Unschedulable"
    for c in app:
        if c.terminated_reason and c.terminated_reason != "Completed":
            return f"{c.name}: {c.terminated_reason}"
    for c in app:
        if c.last_terminated_reason in ("OOMKilled", "Error") and not row.ready:
            return f"{c.name}: last {c.last_terminated_reason}"
    return None


def item(row: PodRow, now: float) -> dict[str, Any]:
    """One line of a pod list."""
    app = [c for c in row.containers if not c.init]
    return {
        "namespace": row.namespace,
        "name": row.name,
        "status": row.status,
        "phase": row.phase,
        "ready": f"{sum(1 for c in app if c.ready)}/{len(app)}",
        "restarts": row.restarts,
        "node": row.node,
        "deployment": row.deployment,
        "age_seconds": age_seconds(row.created_at, now),
        "reason": pod_reason(row),
    }


def _analyzers_skip(row: PodRow) -> bool:
    return health.plainly_healthy_row(row)


_POD = ("namespace", "pod", "uid")
_CONTAINER = (*_POD, "container")

METRIC_FAMILIES: Final = (
    MetricFamily(
        "kube_pod_info",
        "gauge",
        "[STABLE] Information about pod.",
        (
            *_POD,
            "host_ip",
            "pod_ip",
            "node",
            "created_by_kind",
            "created_by_name",
            "priority_class",
            "host_network",
        ),
    ),
    MetricFamily(
        "kube_pod_owner",
        "gauge",
        "[STABLE] Information about the Pod's owner.",
        (*_POD, "owner_kind", "owner_name", "owner_is_controller"),
    ),
    MetricFamily(
        "kube_pod_status_phase", "gauge", "[STABLE] The pods current phase.", (*_POD, "phase")
    ),
    MetricFamily(
        "kube_pod_status_ready",
        "gauge",
        "[STABLE] Describes whether the pod is ready to serve requests.",
        (*_POD, "condition"),
    ),
    MetricFamily(
        "kube_pod_container_status_restarts_total",
        "counter",
        "[STABLE] The number of container restarts per container.",
        _CONTAINER,
    ),
    MetricFamily(
        "kube_pod_container_status_waiting_reason",
        "gauge",
        "[STABLE] Describes the reason the container is currently in waiting state.",
        (*_CONTAINER, "reason"),
    ),
    MetricFamily(
        "kube_pod_container_status_last_terminated_reason",
        "gauge",
        "Describes the last reason the container was in terminated state.",
        (*_CONTAINER, "reason"),
    ),
    MetricFamily(
        "kube_pod_container_resource_requests",
        "gauge",
        "The number of requested request resource by a container. It is recommended to use the "
        "kube_pod_resource_requests metric exposed by kube-scheduler instead, as it is more "
        "precise.",
        (*_CONTAINER, "node", "resource", "unit"),
    ),
    MetricFamily(
        "kube_pod_container_resource_limits",
        "gauge",
        "The number of requested limit resource by a container. It is recommended to use the "
        "kube_pod_resource_limits metric exposed by kube-scheduler instead, as it is more "
        "precise.",
        (*_CONTAINER, "node", "resource", "unit"),
    ),
)


def _first_sight_quiet(sig: Signature) -> bool:
    return status.plainly_healthy(sig)


SPEC: Final = KindSpec(
    resource=RESOURCE,
    normalize=normalize,
    kind=Kind.POD,
    row_type=PodRow,
    table="pods",
    indexed=frozenset(
        {"uid", "namespace", "name", "status", "problem", "node", "deployment", "phase"}
    ),
    filters=frozenset(
        {
            "namespace",
            "status",
            "phase",
            "node",
            "deployment",
            "ready",
            "qos_class",
            "owner_kind",
            "owner_name",
            "reason",
        }
    ),
    signature=status.signature,
    fields=status.fields,
    severity=status.severity,
    explain=status.explain,
    counters={"restarts": "restart count"},
    changes=status.changes,
    plainly_healthy=_first_sight_quiet,
    analyzers=health.ANALYZERS,
    analyzers_skip=_analyzers_skip,
    state=pod_state,
    same_indexed=same_indexed,
    report_order=20,
    item=item,
    metric_families=METRIC_FAMILIES,
)
