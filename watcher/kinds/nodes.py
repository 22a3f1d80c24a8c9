"""Nodes: decoding, kubectl's STATUS column, and the row the store keeps.

kubectl's printNode looks at the Ready condition only: `Ready` when True,
`NotReady` when False *or Unknown* (a node whose kubelet stopped reporting),
`Unknown` only when there is no Ready condition at all; a cordoned node
(spec.unschedulable) gets `,SchedulingDisabled` appended. ROLES come from the
`node-role.kubernetes.io/<role>` labels and the older `kubernetes.io/role`.
"""

from __future__ import annotations

import msgspec

from store.model import Condition, Kind, NodeRow, Taint
from watcher.kinds.meta import (
    ConditionIn,
    KubeObject,
    Resource,
    conditions_by_type,
    cpu_m,
    encode_object,
    memory_b,
    quantity_int,
)

__all__ = [
    "RESOURCE",
    "STORE_KIND",
    "NodeSpec",
    "NodeStatus",
    "node_roles",
    "node_status",
    "normalize",
]

RESOURCE = Resource(kind="Node", plural="nodes", group_version="v1", namespaced=False)
STORE_KIND: Kind | None = Kind.NODE

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
