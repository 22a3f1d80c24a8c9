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
_CLAIM = (*_POD, "volume", "persistentvolumeclaim", "ephemeral")


def _stable(name: str, help_text: str, labels: tuple[str, ...] = _POD) -> MetricFamily:
    return MetricFamily(name, "gauge", "[STABLE] " + help_text, labels)


# kube-state-metrics' pod families: every stable one, and the experimental ones the
# kubernetes-mixin's rules use (`kube_pod_status_reason`, `..._last_terminated_reason`).
# Label names in kube-state-metrics' order; `kube_pod_labels` adds one `label_<key>` per
# allow-listed label (`--metric-labels-allowlist`) after these.
METRIC_FAMILIES: Final = (
    _stable(
        "kube_pod_info",
        "Information about pod.",
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
    _stable(
        "kube_pod_owner",
        "Information about the Pod's owner.",
        (*_POD, "owner_kind", "owner_name", "owner_is_controller"),
    ),
    _stable("kube_pod_status_phase", "The pods current phase.", (*_POD, "phase")),
    _stable(
        "kube_pod_status_ready",
        "Describes whether the pod is ready to serve requests.",
        (*_POD, "condition"),
    ),
    MetricFamily(
        "kube_pod_container_status_restarts_total",
        "counter",
        "[STABLE] The number of container restarts per container.",
        _CONTAINER,
    ),
    _stable(
        "kube_pod_container_status_waiting_reason",
        "Describes the reason the container is currently in waiting state.",
        (*_CONTAINER, "reason"),
    ),
    MetricFamily(
        "kube_pod_container_status_last_terminated_reason",
        "gauge",
        "Describes the last reason the container was in terminated state.",
        (*_CONTAINER, "reason"),
    ),
    _stable(
        "kube_pod_container_resource_requests",
        "The number of requested request resource by a container. It is recommended to use the "
        "kube_pod_resource_requests metric exposed by kube-scheduler instead, as it is more "
        "precise.",
        (*_CONTAINER, "node", "resource", "unit"),
    ),
    _stable(
        "kube_pod_container_resource_limits",
        "The number of requested limit resource by a container. It is recommended to use the "
        "kube_pod_resource_limits metric exposed by kube-scheduler instead, as it is more "
        "precise.",
        (*_CONTAINER, "node", "resource", "unit"),
    ),
    # --- identity and times ---
    _stable("kube_pod_created", "Unix creation timestamp"),
    _stable("kube_pod_start_time", "Start time in unix timestamp for a pod."),
    _stable("kube_pod_completion_time", "Completion time in unix timestamp for a pod."),
    _stable("kube_pod_labels", "Kubernetes labels converted to Prometheus labels."),
    _stable(
        "kube_pod_restart_policy",
        "Describes the restart policy in use by this pod.",
        (*_POD, "type"),
    ),
    # --- scheduling ---
    _stable(
        "kube_pod_status_scheduled",
        "Describes the status of the scheduling process for the pod.",
        (*_POD, "condition"),
    ),
    _stable(
        "kube_pod_status_scheduled_time", "Unix timestamp when pod moved into scheduled status"
    ),
    _stable("kube_pod_status_unschedulable", "Describes the unschedulable status for the pod."),
    MetricFamily("kube_pod_status_reason", "gauge", "The pod status reasons", (*_POD, "reason")),
    # --- app containers ---
    _stable(
        "kube_pod_container_info",
        "Information about a container in a pod.",
        (*_CONTAINER, "image_spec", "image", "image_id", "container_id"),
    ),
    _stable(
        "kube_pod_container_status_waiting",
        "Describes whether the container is currently in waiting state.",
        _CONTAINER,
    ),
    _stable(
        "kube_pod_container_status_running",
        "Describes whether the container is currently in running state.",
        _CONTAINER,
    ),
    _stable(
        "kube_pod_container_status_terminated",
        "Describes whether the container is currently in terminated state.",
        _CONTAINER,
    ),
    _stable(
        "kube_pod_container_status_ready",
        "Describes whether the containers readiness check succeeded.",
        _CONTAINER,
    ),
    _stable(
        "kube_pod_container_state_started",
        "Start time in unix timestamp for a pod container.",
        _CONTAINER,
    ),
    # --- init containers ---
    _stable(
        "kube_pod_init_container_info",
        "Information about an init container in a pod.",
        (*_CONTAINER, "image_spec", "image", "image_id", "container_id", "restart_policy"),
    ),
    _stable(
        "kube_pod_init_container_status_waiting",
        "Describes whether the init container is currently in waiting state.",
        _CONTAINER,
    ),
    _stable(
        "kube_pod_init_container_status_running",
        "Describes whether the init container is currently in running state.",
        _CONTAINER,
    ),
    _stable(
        "kube_pod_init_container_status_terminated",
        "Describes whether the init container is currently in terminated state.",
        _CONTAINER,
    ),
    _stable(
        "kube_pod_init_container_status_ready",
        "Describes whether the init containers readiness check succeeded.",
        _CONTAINER,
    ),
    MetricFamily(
        "kube_pod_init_container_status_restarts_total",
        "counter",
        "[STABLE] The number of restarts for the init container.",
        _CONTAINER,
    ),
    # --- volumes ---
    _stable(
        "kube_pod_spec_volumes_persistentvolumeclaims_info",
        "Information about persistentvolumeclaim and ephemeral volumes in a pod.",
        _CLAIM,
    ),
    _stable(
        "kube_pod_spec_volumes_persistentvolumeclaims_readonly",
        "Describes whether a persistentvolumeclaim is mounted read only. Ephemeral volumes "
        "always report 0 since the ephemeral volume source does not support a read-only flag.",
        _CLAIM,
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
