"""What the simulated controllers know about the cluster: compact facts, indexed.

Real controllers read informer caches, not the API server. Ours read this
view, fed by the object store's change listener, so they also see changes made
through the HTTP API (`kubectl scale`, `kubectl delete pod`) and react to them.

The view keeps small slotted fact records rather than the objects themselves:
the store keeps only encoded bytes, and holding 150k decoded pods here would
cost gigabytes. When a controller needs a whole object to change it, it asks
the store for a fresh copy. Every index is an insertion-ordered dict, never a
set, so iteration order (and with it the seeded scenario) does not depend on
string hashing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeAlias

from .objects import Obj, parse_cpu_millis, parse_memory_bytes

__all__ = [
    "ClusterView",
    "DeploymentFacts",
    "Key",
    "NodeFacts",
    "PodFacts",
    "ReplicaSetFacts",
    "StatefulSetFacts",
    "ViewObserver",
]

Key: TypeAlias = tuple[str, str]  # (namespace, name)
# (resource, event type, key, facts before, facts after); None for absent.
ViewObserver: TypeAlias = Callable[[str, str, Key, Any, Any], None]

TERMINAL_PHASES = ("Succeeded", "Failed")


def _controller_owner(meta: Obj, kind: str) -> tuple[str, str] | None:
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == kind:
            return str(ref.get("name")), str(ref.get("uid"))
    return None


def _condition_status(status: Obj, kind: str) -> str | None:
    for cond in status.get("conditions") or ():
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None


class _ObjectFacts:
    """What every namespaced record carries: who the object is."""

    __slots__ = ("name", "namespace", "uid")

    def __init__(self, meta: Obj) -> None:
        self.namespace: str = meta.get("namespace") or ""
        self.name: str = meta["name"]
        self.uid: str = meta.get("uid") or ""

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)


class _OwnedFacts(_ObjectFacts):
    """A controller-made object: when it was made and which controller owns it."""

    __slots__ = ("created", "owner", "owner_uid")

    def __init__(self, meta: Obj, *, owner_kind: str) -> None:
        super().__init__(meta)
        self.created: str = meta.get("creationTimestamp") or ""
        owner = _controller_owner(meta, owner_kind)
        self.owner: Key | None = (self.namespace, owner[0]) if owner else None
        self.owner_uid: str = owner[1] if owner else ""


class PodFacts(_OwnedFacts):
    """The few things about a pod that scheduling and the controllers look at."""

    __slots__ = (
        "cpu",
        "deleting",
        "mem",
        "node",
        "phase",
        "ready",
        "restarts",
        "revision",
        "set_owner",
        "set_owner_uid",
        "waiting",
    )

    def __init__(self, obj: Obj) -> None:
        meta = obj["metadata"]
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        super().__init__(meta, owner_kind="ReplicaSet")
        # A StatefulSet's pod: its set and the controller revision it was made from.
        set_owner = None if self.owner else _controller_owner(meta, "StatefulSet")
        self.set_owner: Key | None = (self.namespace, set_owner[0]) if set_owner else None
        self.set_owner_uid: str = set_owner[1] if set_owner else ""
        self.revision: str = (
            (meta.get("labels") or {}).get("controller-revision-hash", "") if set_owner else ""
        )
        self.node: str = spec.get("nodeName") or ""
        self.phase: str = status.get("phase") or "Pending"
        self.ready: bool = _condition_status(status, "Ready") == "True"
        self.deleting: bool = bool(meta.get("deletionTimestamp"))
        cpu = mem = 0
        for container in spec.get("containers") or ():
            requests = (container.get("resources") or {}).get("requests") or {}
            if "cpu" in requests:
                cpu += parse_cpu_millis(str(requests["cpu"]))
            if "memory" in requests:
                mem += parse_memory_bytes(str(requests["memory"]))
        self.cpu = cpu
        self.mem = mem
        restarts = 0
        waiting = ""
        for cs in status.get("containerStatuses") or ():
            restarts += int(cs.get("restartCount") or 0)
            reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
            if reason and not waiting:
                waiting = str(reason)
        self.restarts = restarts
        self.waiting = waiting

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def active(self) -> bool:
        """Counted by its ReplicaSet: not terminal and not being deleted."""
        return not self.deleting and self.phase not in TERMINAL_PHASES

    @property
    def holds_resources(self) -> bool:
        """Counted against its node's allocatable, as the scheduler counts it."""
        return bool(self.node) and self.phase not in TERMINAL_PHASES


class ReplicaSetFacts(_OwnedFacts):
    __slots__ = (
        "available",
        "generation",
        "hash",
        "observed",
        "ready",
        "replicas",
        "revision",
        "status_replicas",
    )

    def __init__(self, obj: Obj) -> None:
        meta = obj["metadata"]
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        super().__init__(meta, owner_kind="Deployment")
        self.generation = int(meta.get("generation") or 1)
        self.hash: str = (meta.get("labels") or {}).get("pod-template-hash", "")
        self.revision = int(
            (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision") or 0
        )
        self.replicas = int(spec.get("replicas", 1) or 0)
        self.status_replicas = int(status.get("replicas") or 0)
        self.ready = int(status.get("readyReplicas") or 0)
        self.available = int(status.get("availableReplicas") or 0)
        self.observed = int(status.get("observedGeneration") or 0)


class DeploymentFacts(_ObjectFacts):
    __slots__ = ("generation", "observed", "replicas")

    def __init__(self, obj: Obj) -> None:
        meta = obj["metadata"]
        super().__init__(meta)
        self.generation = int(meta.get("generation") or 1)
        self.replicas = int((obj.get("spec") or {}).get("replicas", 1) or 0)
        self.observed = int((obj.get("status") or {}).get("observedGeneration") or 0)


class StatefulSetFacts(_ObjectFacts):
    """What the StatefulSet controller is woken by: spec changes and its own status."""

    __slots__ = ("generation", "observed", "replicas")

    def __init__(self, obj: Obj) -> None:
        meta = obj["metadata"]
        super().__init__(meta)
        self.generation = int(meta.get("generation") or 1)
        # Only compared, never counted: kept as written, so an odd value
        # reaches the controller (which says what is wrong) instead of failing here.
        self.replicas: object = (obj.get("spec") or {}).get("replicas", 1)
        self.observed = int((obj.get("status") or {}).get("observedGeneration") or 0)


class NodeFacts:
    """A node as the scheduler and the node lifecycle controller see it."""

    __slots__ = (
        "conditions",
        "cpu",
        "host_ip",
        "labels",
        "mem",
        "name",
        "pod_cidr",
        "pods",
        "taints",
        "unschedulable",
    )

    def __init__(self, obj: Obj) -> None:
        meta = obj["metadata"]
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        self.name: str = meta["name"]
        self.labels: dict[str, str] = dict(meta.get("labels") or {})
        self.unschedulable = bool(spec.get("unschedulable"))
        self.taints: tuple[tuple[str, str, str], ...] = tuple(
            (str(t.get("key")), str(t.get("value") or ""), str(t.get("effect")))
            for t in spec.get("taints") or ()
        )
        self.pod_cidr: str = spec.get("podCIDR") or ""
        self.conditions: dict[str, str] = {
            str(c.get("type")): str(c.get("status")) for c in status.get("conditions") or ()
        }
        allocatable = status.get("allocatable") or {}
        self.cpu = parse_cpu_millis(str(allocatable.get("cpu", "0")))
        self.mem = parse_memory_bytes(str(allocatable.get("memory", "0")))
        self.pods = int(str(allocatable.get("pods", "0")))
        self.host_ip = ""
        for address in status.get("addresses") or ():
            if address.get("type") == "InternalIP":
                self.host_ip = str(address.get("address"))
                break

    @property
    def ready(self) -> str:
        """The Ready condition's status: "True", "False" or "Unknown"."""
        return self.conditions.get("Ready", "Unknown")


class ClusterView:
    """Facts about pods, their controllers and nodes, kept current by the store."""

    def __init__(self) -> None:
        self.pods: dict[Key, PodFacts] = {}
        self.replicasets: dict[Key, ReplicaSetFacts] = {}
        self.deployments: dict[Key, DeploymentFacts] = {}
        self.statefulsets: dict[Key, StatefulSetFacts] = {}
        self.nodes: dict[str, NodeFacts] = {}
        self.namespaces: dict[str, None] = {}
        self.pods_by_owner: dict[Key, dict[Key, None]] = {}
        self.pods_by_node: dict[str, dict[Key, None]] = {}
        self.rs_by_owner: dict[Key, dict[Key, None]] = {}
        self.pods_by_statefulset: dict[Key, dict[Key, None]] = {}
        # [cpu millicores, memory bytes, pods] requested on each node.
        self.usage: dict[str, list[int]] = {}
        self._observers: list[ViewObserver] = []

    def subscribe(self, observer: ViewObserver) -> None:
        self._observers.append(observer)

    def observe(self, event_type: str, resource: str, obj: dict[str, Any]) -> None:
        """The store listener: update facts and indexes, then tell the observers."""
        handler = self._handlers.get(resource)
        if handler is not None:
            handler(self, event_type, obj)

    # -- per resource ---------------------------------------------------------------

    def _pod(self, event_type: str, obj: Obj) -> None:
        new = PodFacts(obj)
        key = new.key
        old = self.pods.get(key)
        if old is not None:
            self._unindex_pod(old)
        if event_type == "DELETED":
            self.pods.pop(key, None)
            self._notify("pods", event_type, key, old, None)
            return
        self.pods[key] = new
        self._index_pod(new)
        self._notify("pods", event_type, key, old, new)

    def _index_pod(self, pod: PodFacts) -> None:
        key = pod.key
        if pod.owner is not None:
            self.pods_by_owner.setdefault(pod.owner, {})[key] = None
        if pod.set_owner is not None:
            self.pods_by_statefulset.setdefault(pod.set_owner, {})[key] = None
        if pod.node:
            self.pods_by_node.setdefault(pod.node, {})[key] = None
            if pod.holds_resources:
                usage = self.usage.setdefault(pod.node, [0, 0, 0])
                usage[0] += pod.cpu
                usage[1] += pod.mem
                usage[2] += 1

    def _unindex_pod(self, pod: PodFacts) -> None:
        key = pod.key
        if pod.owner is not None:
            owned = self.pods_by_owner.get(pod.owner)
            if owned is not None:
                owned.pop(key, None)
                if not owned:
                    del self.pods_by_owner[pod.owner]
        if pod.set_owner is not None:
            members = self.pods_by_statefulset.get(pod.set_owner)
            if members is not None:
                members.pop(key, None)
                if not members:
                    del self.pods_by_statefulset[pod.set_owner]
        if pod.node:
            on_node = self.pods_by_node.get(pod.node)
            if on_node is not None:
                on_node.pop(key, None)
            if pod.holds_resources:
                usage = self.usage[pod.node]
                usage[0] -= pod.cpu
                usage[1] -= pod.mem
                usage[2] -= 1

    def _replicaset(self, event_type: str, obj: Obj) -> None:
        new = ReplicaSetFacts(obj)
        key = new.key
        old = self.replicasets.get(key)
        if old is not None and old.owner is not None:
            owned = self.rs_by_owner.get(old.owner)
            if owned is not None:
                owned.pop(key, None)
                if not owned:
                    del self.rs_by_owner[old.owner]
        if event_type == "DELETED":
            self.replicasets.pop(key, None)
            self._notify("replicasets", event_type, key, old, None)
            return
        self.replicasets[key] = new
        if new.owner is not None:
            self.rs_by_owner.setdefault(new.owner, {})[key] = None
        self._notify("replicasets", event_type, key, old, new)

    def _deployment(self, event_type: str, obj: Obj) -> None:
        new = DeploymentFacts(obj)
        key = new.key
        old = self.deployments.get(key)
        if event_type == "DELETED":
            self.deployments.pop(key, None)
            self._notify("deployments", event_type, key, old, None)
            return
        self.deployments[key] = new
        self._notify("deployments", event_type, key, old, new)

    def _statefulset(self, event_type: str, obj: Obj) -> None:
        new = StatefulSetFacts(obj)
        key = new.key
        old = self.statefulsets.get(key)
        if event_type == "DELETED":
            self.statefulsets.pop(key, None)
            self._notify("statefulsets", event_type, key, old, None)
            return
        self.statefulsets[key] = new
        self._notify("statefulsets", event_type, key, old, new)

    def _node(self, event_type: str, obj: Obj) -> None:
        new = NodeFacts(obj)
        key = ("", new.name)
        old = self.nodes.get(new.name)
        if event_type == "DELETED":
            self.nodes.pop(new.name, None)
            self._notify("nodes", event_type, key, old, None)
            return
        self.nodes[new.name] = new
        self._notify("nodes", event_type, key, old, new)

    def _namespace(self, event_type: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            self.namespaces.pop(name, None)
        else:
            self.namespaces[name] = None

    def _notify(self, resource: str, event_type: str, key: Key, old: Any, new: Any) -> None:
        for observer in self._observers:
            observer(resource, event_type, key, old, new)

    _handlers: ClassVar[dict[str, Callable[[ClusterView, str, Obj], None]]] = {
        "pods": _pod,
        "replicasets": _replicaset,
        "deployments": _deployment,
        "statefulsets": _statefulset,
        "nodes": _node,
        "namespaces": _namespace,
    }
