"""The metric families /metrics exports about the cluster: names, types, help, label names.

`KSM` holds the kube-state-metrics families, spelled exactly as
kube-state-metrics v2 prints them (help text with its `[STABLE]` marker
included, label names in its order), so that dashboards and alert rules
written for it work unchanged. `SUMMARY` holds the bounded per-namespace and
per-node aggregates of summary mode, under our own prefix: they are not
kube-state-metrics' and must not pretend to be.

Each family renders its own `# HELP`/`# TYPE` header in either exposition
format: the formats differ only for counters, whose OpenMetrics family name
drops the `_total` suffix that their samples keep.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

__all__ = ["KSM", "MODE", "SUMMARY", "Family"]

MetricType = Literal["gauge", "counter"]

_POD = ("namespace", "pod", "uid")
_CONTAINER = (*_POD, "container")
_DEPLOYMENT = ("namespace", "deployment")


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]

    def header(self, *, openmetrics: bool) -> str:
        name = self.name
        if openmetrics and self.type == "counter" and name.endswith("_total"):
            name = name[: -len("_total")]
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        if openmetrics:
            help_text = help_text.replace('"', '\\"')
        return f"# HELP {name} {help_text}\n# TYPE {name} {self.type}\n"


def _family(name: str, type_: MetricType, help_text: str, labels: tuple[str, ...]) -> Family:
    return Family(name, type_, help_text, labels)


_KSM_FAMILIES = (
    # Pods
    _family(
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
    _family(
        "kube_pod_owner",
        "gauge",
        "[STABLE] Information about the Pod's owner.",
        (*_POD, "owner_kind", "owner_name", "owner_is_controller"),
    ),
    _family("kube_pod_status_phase", "gauge", "[STABLE] The pods current phase.", (*_POD, "phase")),
    _family(
        "kube_pod_status_ready",
        "gauge",
        "[STABLE] Describes whether the pod is ready to serve requests.",
        (*_POD, "condition"),
    ),
    _family(
        "kube_pod_container_status_restarts_total",
        "counter",
        "[STABLE] The number of container restarts per container.",
        _CONTAINER,
    ),
    _family(
        "kube_pod_container_status_waiting_reason",
        "gauge",
        "[STABLE] Describes the reason the container is currently in waiting state.",
        (*_CONTAINER, "reason"),
    ),
    _family(
        "kube_pod_container_status_last_terminated_reason",
        "gauge",
        "Describes the last reason the container was in terminated state.",
        (*_CONTAINER, "reason"),
    ),
    _family(
        "kube_pod_container_resource_requests",
        "gauge",
        "The number of requested request resource by a container. It is recommended to use the "
        "kube_pod_resource_requests metric exposed by kube-scheduler instead, as it is more "
        "precise.",
        (*_CONTAINER, "node", "resource", "unit"),
    ),
    _family(
        "kube_pod_container_resource_limits",
        "gauge",
        "The number of requested limit resource by a container. It is recommended to use the "
        "kube_pod_resource_limits metric exposed by kube-scheduler instead, as it is more "
        "precise.",
        (*_CONTAINER, "node", "resource", "unit"),
    ),
    # Deployments
    _family(
        "kube_deployment_spec_replicas",
        "gauge",
        "[STABLE] Number of desired pods for a deployment.",
        _DEPLOYMENT,
    ),
    _family(
        "kube_deployment_status_replicas",
        "gauge",
        "[STABLE] The number of replicas per deployment.",
        _DEPLOYMENT,
    ),
    _family(
        "kube_deployment_status_replicas_ready",
        "gauge",
        "[STABLE] The number of ready replicas per deployment.",
        _DEPLOYMENT,
    ),
    _family(
        "kube_deployment_status_replicas_available",
        "gauge",
        "[STABLE] The number of available replicas per deployment.",
        _DEPLOYMENT,
    ),
    _family(
        "kube_deployment_status_replicas_unavailable",
        "gauge",
        "[STABLE] The number of unavailable replicas per deployment.",
        _DEPLOYMENT,
    ),
    _family(
        "kube_deployment_status_replicas_updated",
        "gauge",
        "[STABLE] The number of updated replicas per deployment.",
        _DEPLOYMENT,
    ),
    _family(
        "kube_deployment_status_condition",
        "gauge",
        "[STABLE] The current status conditions of a deployment.",
        (*_DEPLOYMENT, "reason", "condition", "status"),
    ),
    _family(
        "kube_deployment_status_observed_generation",
        "gauge",
        "[STABLE] The generation observed by the deployment controller.",
        _DEPLOYMENT,
    ),
    _family(
        "kube_deployment_metadata_generation",
        "gauge",
        "[STABLE] Sequence number representing a specific generation of the desired state.",
        _DEPLOYMENT,
    ),
    # Nodes
    _family(
        "kube_node_info",
        "gauge",
        "[STABLE] Information about a cluster node.",
        (
            "node",
            "kernel_version",
            "os_image",
            "container_runtime_version",
            "kubelet_version",
            "kubeproxy_version",
            "pod_cidr",
            "provider_id",
            "system_uuid",
            "internal_ip",
        ),
    ),
    _family(
        "kube_node_spec_unschedulable",
        "gauge",
        "[STABLE] Whether a node can schedule new pods.",
        ("node",),
    ),
    _family(
        "kube_node_spec_taint",
        "gauge",
        "[STABLE] The taint of a cluster node.",
        ("node", "key", "value", "effect"),
    ),
    _family(
        "kube_node_status_condition",
        "gauge",
        "[STABLE] The condition of a cluster node.",
        ("node", "condition", "status"),
    ),
    _family(
        "kube_node_status_capacity",
        "gauge",
        "[STABLE] The capacity for different resources of a node.",
        ("node", "resource", "unit"),
    ),
    _family(
        "kube_node_status_allocatable",
        "gauge",
        "[STABLE] The allocatable for different resources of a node that are available for "
        "scheduling.",
        ("node", "resource", "unit"),
    ),
)

KSM: dict[str, Family] = {f.name: f for f in _KSM_FAMILIES}

_NS = ("namespace",)
_RESOURCE = ("resource", "unit")

_SUMMARY_FAMILIES = (
    _family(
        "kube_watchcache_namespace_pods",
        "gauge",
        "Pods per namespace and phase.",
        (*_NS, "phase"),
    ),
    _family(
        "kube_watchcache_namespace_pods_ready",
        "gauge",
        "Pods per namespace whose Ready condition is True.",
        _NS,
    ),
    _family(
        "kube_watchcache_namespace_pods_by_status",
        "gauge",
        "Pods per namespace and kubectl STATUS (Running, CrashLoopBackOff, Terminating...).",
        (*_NS, "status"),
    ),
    _family(
        "kube_watchcache_namespace_container_restarts",
        "gauge",
        "Sum of the restart counts of the app containers of the namespace's current pods.",
        _NS,
    ),
    _family(
        "kube_watchcache_namespace_resource_requests",
        "gauge",
        "Resources requested by the namespace's non-terminated pods (cpu in cores, memory in "
        "bytes).",
        (*_NS, *_RESOURCE),
    ),
    _family(
        "kube_watchcache_namespace_resource_limits",
        "gauge",
        "Resource limits of the namespace's non-terminated pods (cpu in cores, memory in bytes).",
        (*_NS, *_RESOURCE),
    ),
    _family(
        "kube_watchcache_namespace_deployments",
        "gauge",
        "Deployments per namespace and derived status (Available, Progressing, Unavailable...).",
        (*_NS, "status"),
    ),
    _family(
        "kube_watchcache_namespace_deployment_replicas",
        "gauge",
        "Replicas of the namespace's deployments summed by state (desired, ready, available, "
        "updated, unavailable).",
        (*_NS, "state"),
    ),
    _family(
        "kube_watchcache_node_pods",
        "gauge",
        "Pods bound to the node, per phase.",
        ("node", "phase"),
    ),
    _family(
        "kube_watchcache_node_resource_requests",
        "gauge",
        "Resources requested by the node's non-terminated pods (cpu in cores, memory in bytes).",
        ("node", *_RESOURCE),
    ),
    _family(
        "kube_watchcache_node_resource_limits",
        "gauge",
        "Resource limits of the node's non-terminated pods (cpu in cores, memory in bytes).",
        ("node", *_RESOURCE),
    ),
    _family(
        "kube_watchcache_node_allocatable",
        "gauge",
        "The node's allocatable cpu (cores), memory (bytes) and pods.",
        ("node", *_RESOURCE),
    ),
    _family(
        "kube_watchcache_node_ready",
        "gauge",
        "The status of the node's Ready condition (true, false, unknown) as a label; always 1.",
        ("node", "status"),
    ),
    _family(
        "kube_watchcache_node_unschedulable",
        "gauge",
        "Whether the node is cordoned (spec.unschedulable).",
        ("node",),
    ),
)

SUMMARY: dict[str, Family] = {f.name: f for f in _SUMMARY_FAMILIES}

MODE = _family(
    "kube_watchcache_metrics_cluster_mode",
    "gauge",
    "Which cluster gauges this scrape carries: objects (kube-state-metrics families, one series "
    "per object) or summary (bounded per-namespace and per-node aggregates).",
    ("mode",),
)
