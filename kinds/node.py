"""Nodes: decoding, kubectl's STATUS column, the row, tracked status, analyzers, metrics.

kubectl's printNode looks at the Ready condition only: `Ready` when True,
`NotReady` when False *or Unknown* (a node whose kubelet stopped reporting),
`Unknown` only when there is no Ready condition at all; a cordoned node
(spec.unschedulable) gets `,SchedulingDisabled` appended. ROLES come from the
`node-role.kubernetes.io/<role>` labels and the older `kubernetes.io/role`.
"""

from __future__ import annotations

import sys
from typing import Any, Final, NamedTuple

import msgspec

from kinds.common import (
    Candidate,
    Condition,
    Finding,
    HealthSettings,
    Severity,
    Taint,
    condition_severity,
    condition_since,
    condition_status,
    timestamp,
)
from kinds.meta import (
    ConditionIn,
    KubeObject,
    Resource,
    conditions_by_type,
    cpu_m,
    encode_object,
    memory_b,
    quantity_int,
)
from kinds.names import Kind
from kinds.spec import KindSpec, MetricFamily, Signature

__all__ = [
    "CONDITION_BAD",
    "METRIC_FAMILIES",
    "RESOURCE",
    "SPEC",
    "NodeRow",
    "NodeState",
    "item",
    "node_problems",
    "normalize",
]


class NodeRow(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    uid: str
    name: str
    resource_version: str
    namespace: str = ""  # cluster-scoped; kept so every row has the same key shape
    created_at: str | None = None
    labels: dict[str, str] = {}
    ready: str = "Unknown"  # the Ready condition's status: "True" | "False" | "Unknown"
    conditions: dict[str, Condition] = {}  # Ready, MemoryPressure, DiskPressure, ...
    unschedulable: bool = False  # spec.unschedulable: cordoned
    taints: tuple[Taint, ...] = ()
    status: str = "Unknown"  # kubectl's STATUS column: Ready, NotReady, Ready,SchedulingDisabled
    roles: tuple[str, ...] = ()
    kubelet_version: str | None = None
    os_image: str | None = None
    kernel_version: str | None = None
    container_runtime: str | None = None
    internal_ip: str | None = None
    cpu_capacity_m: int = 0
    memory_capacity_bytes: int = 0
    pods_capacity: int = 0
    cpu_allocatable_m: int = 0
    memory_allocatable_bytes: int = 0
    pods_allocatable: int = 0
    obj: bytes = b"{}"


CONDITION_BAD: Final[dict[str, tuple[frozenset[str], Severity]]] = {
    "Ready": (frozenset({"False", "Unknown"}), Severity.CRITICAL),
    "MemoryPressure": (frozenset({"True"}), Severity.WARNING),
    "DiskPressure": (frozenset({"True"}), Severity.WARNING),
    "PIDPressure": (frozenset({"True"}), Severity.WARNING),
    "NetworkUnavailable": (frozenset({"True"}), Severity.CRITICAL),
}


RESOURCE = Resource(kind="Node", plural="nodes", group_version="v1", namespaced=False)

Quantity = str | int | float
_ROLE_PREFIX = "node-role.kubernetes.io/"


class TaintIn(msgspec.Struct, gc=False):
    key: str = ""
    effect: str = ""
    value: str | None = None


class NodeSpec(msgspec.Struct, gc=False):
    unschedulable: bool = False
    taints: list[TaintIn] = []


class NodeInfo(msgspec.Struct, gc=False, rename="camel"):
    kubelet_version: str | None = None
    os_image: str | None = None
    kernel_version: str | None = None
    container_runtime_version: str | None = None


class Address(msgspec.Struct, gc=False):
    type: str = ""
    address: str = ""


class NodeStatus(msgspec.Struct, gc=False, rename="camel"):
    conditions: list[ConditionIn] = []
    capacity: dict[str, Quantity] = {}
    allocatable: dict[str, Quantity] = {}
    node_info: NodeInfo | None = None
    addresses: list[Address] = []


_spec_decoder = msgspec.json.Decoder(NodeSpec)
_status_decoder = msgspec.json.Decoder(NodeStatus)


def node_status(conditions: dict[str, Condition], *, unschedulable: bool) -> str:
    """kubectl's STATUS column for a node."""
    ready = conditions.get("Ready")
    first = "Unknown" if ready is None else "Ready" if ready.status == "True" else "NotReady"
    parts = [first]
    if unschedulable:
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def node_roles(labels: dict[str, str]) -> tuple[str, ...]:
    """kubectl's ROLES column, as a sorted tuple (empty for kubectl's `<none>`)."""
    roles = set()
    for key, value in labels.items():
        if key.startswith(_ROLE_PREFIX) and len(key) > len(_ROLE_PREFIX):
            roles.add(key[len(_ROLE_PREFIX) :])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return tuple(sorted(roles))


def normalize(obj: KubeObject, *, reveal_env_values: bool = False) -> NodeRow:
    """The store row for one node (a node has no env variables: nothing to redact)."""
    meta = obj.metadata
    spec = _spec_decoder.decode(obj.spec) if obj.spec else NodeSpec()
    status = _status_decoder.decode(obj.status) if obj.status else NodeStatus()
    conditions = conditions_by_type(status.conditions)
    labels = meta.labels or {}
    info = status.node_info or NodeInfo()
    internal_ip = next((a.address for a in status.addresses if a.type == "InternalIP"), None)
    cap, alloc = status.capacity, status.allocatable
    ready = conditions.get("Ready")
    return NodeRow(
        uid=meta.uid,
        name=meta.name,
        resource_version=meta.resource_version,
        created_at=meta.creation_timestamp,
        labels=labels,
        ready=ready.status if ready is not None else "Unknown",
        conditions=conditions,
        unschedulable=spec.unschedulable,
        taints=tuple(Taint(key=t.key, effect=t.effect, value=t.value) for t in spec.taints),
        status=node_status(conditions, unschedulable=spec.unschedulable),
        roles=node_roles(labels),
        kubelet_version=info.kubelet_version,
        os_image=info.os_image,
        kernel_version=info.kernel_version,
        container_runtime=info.container_runtime_version,
        internal_ip=internal_ip,
        cpu_capacity_m=cpu_m(cap.get("cpu")) or 0,
        memory_capacity_bytes=memory_b(cap.get("memory")) or 0,
        pods_capacity=quantity_int(cap.get("pods")) or 0,
        cpu_allocatable_m=cpu_m(alloc.get("cpu")) or 0,
        memory_allocatable_bytes=memory_b(alloc.get("memory")) or 0,
        pods_allocatable=quantity_int(alloc.get("pods")) or 0,
        obj=encode_object(obj, RESOURCE),
    )


_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


def signature(row: NodeRow) -> Signature:
    """The tracked status: the five conditions' statuses and the cordon."""
    conds = row.conditions
    return (
        condition_status(conds, "Ready") or row.ready,
        condition_status(conds, "MemoryPressure"),
        condition_status(conds, "DiskPressure"),
        condition_status(conds, "PIDPressure"),
        condition_status(conds, "NetworkUnavailable"),
        row.unschedulable,
    )


def fields(sig: Signature) -> dict[str, str | None]:
    out: dict[str, str | None] = {f"condition/{c}": sig[i] for i, c in enumerate(_CONDITIONS)}
    out["unschedulable"] = "true" if sig[5] else "false"
    return out


def severity(field: str, value: str | None, sig: Signature) -> Severity:
    if field.startswith("condition/"):
        return condition_severity(CONDITION_BAD, field[len("condition/") :], value)
    if field == "unschedulable":
        return Severity.WARNING if value == "true" else Severity.INFO
    return Severity.INFO


def explain(field: str, value: str | None, row: NodeRow) -> tuple[str, str]:
    if field.startswith("condition/"):
        cond = row.conditions.get(field[len("condition/") :])
        return (cond.reason or "", cond.message or "") if cond else ("", "")
    if field == "unschedulable":
        return ("Cordoned" if value == "true" else "Uncordoned"), ""
    return "", ""


class NodeState(NamedTuple):
    namespace: str
    name: str
    ready: str
    status: str
    unschedulable: bool
    cpu_allocatable_m: int
    memory_allocatable_bytes: int
    pods_allocatable: int
    signature: tuple[Any, ...]
    problem: int


def node_state(row: NodeRow, sig: Signature, problem: int) -> NodeState:
    """What the writer remembers of a node: readiness, cordon and allocatable capacity."""
    return NodeState(
        row.namespace,
        row.name,
        sig[0] or "Unknown",
        sys.intern(row.status),
        row.unschedulable,
        row.cpu_allocatable_m,
        row.memory_allocatable_bytes,
        row.pods_allocatable,
        sig,
        problem,
    )


# --- health -----------------------------------------------------------------------------------

_PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure")


def _node_finding(
    row: NodeRow, check: str, severity: Severity, reason: str, message: str, **kw: Any
) -> Finding:
    return Finding(
        check=check,
        severity=severity,
        kind=Kind.NODE,
        namespace="",
        name=row.name,
        uid=row.uid,
        reason=reason,
        message=message,
        **kw,
    )


def node_not_ready(row: NodeRow, settings: HealthSettings) -> Candidate | None:
    """Ready is False or Unknown (kubelet down, node unreachable)."""
    cond = row.conditions.get("Ready")
    status = cond.status if cond else row.ready
    if status == "True":
        return None
    since = timestamp(cond.last_transition) if cond else None
    reason = (cond.reason if cond else None) or (
        "NodeStatusUnknown" if status == "Unknown" else "KubeletNotReady"
    )
    finding = _node_finding(
        row,
        "node.not_ready",
        Severity.CRITICAL,
        reason,
        (cond.message if cond else None) or f"node Ready={status}",
        since=since,
        evidence={"ready": status, "kubelet_version": row.kubelet_version},
    )
    return Candidate(
        finding,
        min_age_s=settings.node_not_ready_after_s,
        field="condition/Ready",
        has_own_since=since is not None,
    )


def node_pressure(row: NodeRow, settings: HealthSettings) -> Candidate | None:
    """Memory, disk or PID pressure: the kubelet evicts pods to recover."""
    hits = [
        p for p in _PRESSURES if (c := row.conditions.get(p)) is not None and c.status == "True"
    ]
    if not hits:
        return None
    times = [t for p in hits if (t := condition_since(row.conditions, p)) is not None]
    since = min(times) if times else None
    finding = _node_finding(
        row,
        "node.pressure",
        Severity.WARNING,
        ",".join(hits),
        "; ".join(row.conditions[p].message or p for p in hits),
        since=since,
        evidence={"conditions": hits},
    )
    return Candidate(finding, field=f"condition/{hits[0]}", has_own_since=since is not None)


def node_network_unavailable(row: NodeRow, settings: HealthSettings) -> Candidate | None:
    """NetworkUnavailable=True: the node's pod network is not configured."""
    cond = row.conditions.get("NetworkUnavailable")
    if cond is None or cond.status != "True":
        return None
    since = timestamp(cond.last_transition)
    finding = _node_finding(
        row,
        "node.network_unavailable",
        Severity.CRITICAL,
        cond.reason or "NetworkUnavailable",
        cond.message or "node network is unavailable",
        since=since,
    )
    return Candidate(finding, field="condition/NetworkUnavailable", has_own_since=since is not None)


def node_cordoned(row: NodeRow, settings: HealthSettings) -> Candidate | None:
    """spec.unschedulable: no new pods land here (maintenance, or forgotten)."""
    if not row.unschedulable:
        return None
    finding = _node_finding(
        row,
        "node.cordoned",
        Severity.WARNING,
        "Cordoned",
        "node is cordoned (SchedulingDisabled)",
        evidence={"taints": [t.key for t in row.taints]},
    )
    return Candidate(finding, field="unschedulable")


# --- answers ----------------------------------------------------------------------------------


def node_problems(row: NodeRow) -> list[str]:
    problems = []
    for name, cond in row.conditions.items():
        healthy = cond.status == "True" if name == "Ready" else cond.status != "True"
        if not healthy:
            problems.append(f"{name}={cond.status}")
    if row.unschedulable:
        problems.append("cordoned")
    return problems


def item(row: NodeRow, now: float) -> dict[str, Any]:
    """One line of a node list, from the row alone (the pods on it come from the summaries)."""
    return {
        "name": row.name,
        "status": row.status,
        "ready": row.ready,
        "unschedulable": row.unschedulable,
        "roles": list(row.roles),
        "cpu_allocatable_m": row.cpu_allocatable_m,
        "memory_allocatable_bytes": row.memory_allocatable_bytes,
        "problems": node_problems(row),
    }


METRIC_FAMILIES: Final = (
    MetricFamily(
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
    MetricFamily(
        "kube_node_spec_unschedulable",
        "gauge",
        "[STABLE] Whether a node can schedule new pods.",
        ("node",),
    ),
    MetricFamily(
        "kube_node_spec_taint",
        "gauge",
        "[STABLE] The taint of a cluster node.",
        ("node", "key", "value", "effect"),
    ),
    MetricFamily(
        "kube_node_status_condition",
        "gauge",
        "[STABLE] The condition of a cluster node.",
        ("node", "condition", "status"),
    ),
    MetricFamily(
        "kube_node_status_capacity",
        "gauge",
        "[STABLE] The capacity for different resources of a node.",
        ("node", "resource", "unit"),
    ),
    MetricFamily(
        "kube_node_status_allocatable",
        "gauge",
        "[STABLE] The allocatable for different resources of a node that are available for "
        "scheduling.",
        ("node", "resource", "unit"),
    ),
    MetricFamily("kube_node_created", "gauge", "[STABLE] Unix creation timestamp", ("node",)),
    # One series per node; a `label_<key>` per allow-listed label after `node`.
    MetricFamily(
        "kube_node_labels",
        "gauge",
        "[STABLE] Kubernetes labels converted to Prometheus labels.",
        ("node",),
    ),
    # Experimental in kube-state-metrics; the mixin's overcommit alerts count control planes.
    MetricFamily("kube_node_role", "gauge", "The role of a cluster node.", ("node", "role")),
)

SPEC: Final = KindSpec(
    resource=RESOURCE,
    normalize=normalize,
    kind=Kind.NODE,
    row_type=NodeRow,
    table="nodes",
    filters=frozenset({"status", "ready", "unschedulable", "kubelet_version"}),
    signature=signature,
    fields=fields,
    severity=severity,
    explain=explain,
    deletion_severity=Severity.WARNING,
    analyzers=(node_not_ready, node_pressure, node_network_unavailable, node_cordoned),
    state=node_state,
    report_order=0,
    item=item,
    metric_families=METRIC_FAMILIES,
)
