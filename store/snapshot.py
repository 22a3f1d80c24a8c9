"""What the Prometheus exporter needs from the store, read as one consistent snapshot.

Two shapes, for the exporter's two modes:

- `ObjectsReader(path).read()`: every pod, deployment and node, with the
  fields the kube-state-metrics gauges need, read in ONE read transaction on
  a fresh read-only connection (re-decoding only the pods that changed since
  the reader's previous read). In WAL mode that transaction sees one committed
  state of all three tables while the writer keeps committing: a scrape
  never waits for ingestion, and ingestion never waits for a scrape. It is
  synchronous on purpose — run it in a worker thread: SQLite
  gives up the GIL while it steps, and decoding 150k rows must not run on the
  event loop.
- `take_aggregates(view)`: the in-memory aggregates (per namespace, per node,
  per deployment), copied synchronously on the event loop where the writer
  updates them, so the copy is exactly one committed version. It costs a
  copy per namespace and node, never a pass over the pods.

The fields that rows do not keep as columns (a pod's priority class,
hostNetwork, full owner list, labels, restart policy, PodScheduled
condition, container status identities and times, claimed volumes; a
deployment's rolling-update bounds and labels; a node's full capacity map,
labels and a few nodeInfo strings) are read from the stored object by
msgspec, into structs that name only those fields (measured: half the time
of SQLite's json_extract over 10k pods). Only changed pods are decoded, so
these fields cost per change, not per scrape.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec

from kinds.common import timestamp
from kinds.registry import STORED
from store.columns import TABLES
from store.errors import StoreError
from store.model import Condition, ContainerRow, Kind, SyncState, Taint
from store.storage import translate
from store.view import DeploymentState, NodeState, View

__all__ = [
    "AggregatesSnapshot",
    "ContainerStatusMetrics",
    "DeploymentMetrics",
    "NamespaceDeployments",
    "NodeMetrics",
    "ObjectsReader",
    "ObjectsSnapshot",
    "OwnerRef",
    "PodMetrics",
    "TotalsCopy",
    "VolumeClaim",
    "read_objects",
    "take_aggregates",
]


class OwnerRef(msgspec.Struct, frozen=True):
    kind: str = ""
    name: str = ""
    controller: bool = False


class ContainerStatusMetrics(msgspec.Struct, frozen=True, gc=False):
    """What a container's status adds to its row: identity and the times of its states."""

    name: str
    image: str  # status.image (the row's `image` is the spec's)
    image_id: str
    container_id: str
    started_at: float | None  # the running or terminated state's startedAt
    finished_at: float | None  # the terminated state's finishedAt
    terminated_reason: str


class VolumeClaim(msgspec.Struct, frozen=True, gc=False):
    volume: str
    claim: str
    ephemeral: bool
    read_only: bool


class PodMetrics(msgspec.Struct, frozen=True, gc=False):
    """One pod as the exporter sees it (app and init containers both in `containers`)."""

    uid: str
    resource_version: str
    namespace: str
    name: str
    node: str
    phase: str
    ready: str | None  # the Ready condition's status, None when the pod has none
    containers: tuple[ContainerRow, ...]
    pod_ip: str
    host_ip: str
    priority_class: str
    host_network: bool
    owners: tuple[OwnerRef, ...]
    deployment: str = ""  # the owning Deployment, through the ReplicaSet
    created: float | None = None
    start_time: float | None = None
    restart_policy: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    # The PodScheduled condition: status ("True", ...) or "" without one, its time, its reason.
    scheduled: str = ""
    scheduled_time: float | None = None
    scheduled_reason: str = ""
    status_reason: str = ""
    condition_reasons: frozenset[str] = frozenset()
    statuses: tuple[ContainerStatusMetrics, ...] = ()  # app containers
    init_statuses: tuple[ContainerStatusMetrics, ...] = ()
    init_restart_policies: tuple[tuple[str, str], ...] = ()  # init container -> restartPolicy
    volumes: tuple[VolumeClaim, ...] = ()


class DeploymentMetrics(msgspec.Struct, frozen=True, gc=False):
    namespace: str
    name: str
    generation: int
    observed_generation: int
    paused: bool
    replicas: int
    status_replicas: int
    ready_replicas: int
    available_replicas: int
    unavailable_replicas: int
    updated_replicas: int
    conditions: dict[str, Condition]
    created: float | None = None
    labels: tuple[tuple[str, str], ...] = ()
    # spec.strategy.rollingUpdate's maxSurge and maxUnavailable scaled to the replicas; None
    # without a rolling update (or with a value kube-state-metrics cannot scale either).
    max_surge: int | None = None
    max_unavailable: int | None = None


class NodeMetrics(msgspec.Struct, frozen=True, gc=False):
    name: str
    unschedulable: bool
    taints: tuple[Taint, ...]
    conditions: dict[str, Condition]
    kernel_version: str
    os_image: str
    container_runtime_version: str
    kubelet_version: str
    kubeproxy_version: str
    pod_cidr: str
    provider_id: str
    system_uuid: str
    internal_ip: str
    capacity: dict[str, str]  # resource name -> quantity, as the API gives them
    allocatable: dict[str, str]
    created: float | None = None
    labels: tuple[tuple[str, str], ...] = ()


class ObjectsSnapshot(msgspec.Struct, frozen=True):
    pods: list[PodMetrics]
    deployments: list[DeploymentMetrics]
    nodes: list[NodeMetrics]
    read_seconds: float
    # Every other kind that exports metrics (`KindSpec.metric_samples`): its rows.
    rows: dict[Kind, list[Any]] = {}

    @property
    def objects(self) -> int:
        others = sum(len(rows) for rows in self.rows.values())
        return len(self.pods) + len(self.deployments) + len(self.nodes) + others


# --- reading the tables ----------------------------------------------------------------------

_POD_SQL = (
    "SELECT uid, resource_version, namespace, name, node, phase, "
    "json_extract(conditions, '$.Ready.status'), containers, pod_ip, host_ip, owner_kind, "
    "owner_name, deployment, obj FROM pods{where}"
)
_POD_VERSIONS_SQL = "SELECT uid, resource_version FROM pods"
# Above this share of changed pods one full scan beats lookups by uid.
_FULL_SCAN_SHARE = 0.75
_LOOKUP_CHUNK = 500
_DEPLOYMENT_SQL = (
    "SELECT namespace, name, generation, observed_generation, paused, replicas, status_replicas, "
    "ready_replicas, available_replicas, unavailable_replicas, updated_replicas, conditions, obj "
    "FROM deployments"
)
_NODE_SQL = (
    "SELECT name, unschedulable, taints, conditions, kernel_version, os_image, container_runtime, "
    "kubelet_version, internal_ip, cpu_capacity_m, memory_capacity_bytes, pods_capacity, "
    "cpu_allocatable_m, memory_allocatable_bytes, pods_allocatable, obj FROM nodes"
)

_containers = msgspec.json.Decoder(tuple[ContainerRow, ...])
_conditions = msgspec.json.Decoder(dict[str, Condition])
_taints = msgspec.json.Decoder(tuple[Taint, ...])


class _Meta(msgspec.Struct, rename="camel"):
    owner_references: tuple[OwnerRef, ...] | None = None
    creation_timestamp: str | None = None
    labels: dict[str, str] | None = None


class _PvcSource(msgspec.Struct, rename="camel"):
    claim_name: str = ""
    read_only: bool = False


class _Volume(msgspec.Struct, rename="camel"):
    name: str = ""
    persistent_volume_claim: _PvcSource | None = None
    ephemeral: dict[str, Any] | None = None


class _InitContainer(msgspec.Struct, rename="camel"):
    name: str = ""
    restart_policy: str | None = None


class _PodSpec(msgspec.Struct, rename="camel"):
    priority_class_name: str | None = None
    host_network: bool | None = None
    restart_policy: str | None = None
    volumes: list[_Volume] | None = None
    init_containers: list[_InitContainer] | None = None


class _StartedAt(msgspec.Struct, rename="camel"):
    started_at: str | None = None


class _Terminated(msgspec.Struct, rename="camel"):
    started_at: str | None = None
    finished_at: str | None = None
    reason: str | None = None


class _State(msgspec.Struct):
    running: _StartedAt | None = None
    terminated: _Terminated | None = None


class _ContainerStatus(msgspec.Struct, rename="camel"):
    name: str = ""
    image: str = ""
    image_id: str = msgspec.field(default="", name="imageID")
    container_id: str = msgspec.field(default="", name="containerID")
    state: _State | None = None


class _PodCondition(msgspec.Struct, rename="camel"):
    type: str = ""
    status: str = ""
    reason: str | None = None
    last_transition_time: str | None = None


class _PodStatus(msgspec.Struct, rename="camel"):
    start_time: str | None = None
    reason: str | None = None
    conditions: list[_PodCondition] | None = None
    container_statuses: list[_ContainerStatus] | None = None
    init_container_statuses: list[_ContainerStatus] | None = None


class _PodObject(msgspec.Struct):
    metadata: _Meta | None = None
    spec: _PodSpec | None = None
    status: _PodStatus | None = None


_pod_object = msgspec.json.Decoder(_PodObject)
_NO_POD_OBJECT = _PodObject()


class _RollingUpdate(msgspec.Struct, rename="camel"):
    max_surge: int | str | None = None
    max_unavailable: int | str | None = None


class _Strategy(msgspec.Struct, rename="camel"):
    rolling_update: _RollingUpdate | None = None


class _DeploymentSpec(msgspec.Struct, rename="camel"):
    replicas: int | None = None
    strategy: _Strategy | None = None


class _DeploymentObject(msgspec.Struct):
    metadata: _Meta | None = None
    spec: _DeploymentSpec | None = None


_deployment_object = msgspec.json.Decoder(_DeploymentObject)


class _NodeInfo(msgspec.Struct, rename="camel"):
    kube_proxy_version: str = ""
    system_uuid: str = msgspec.field(default="", name="systemUUID")


class _NodeStatus(msgspec.Struct, rename="camel"):
    capacity: dict[str, str] = {}
    allocatable: dict[str, str] = {}
    node_info: _NodeInfo | None = None


class _NodeSpec(msgspec.Struct, rename="camel"):
    pod_cidr: str = msgspec.field(default="", name="podCIDR")
    provider_id: str = msgspec.field(default="", name="providerID")


class _NodeObject(msgspec.Struct):
    metadata: _Meta | None = None
    spec: _NodeSpec | None = None
    status: _NodeStatus | None = None


_node_object = msgspec.json.Decoder(_NodeObject)


def _labels(meta: _Meta | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(meta.labels.items())) if meta is not None and meta.labels else ()


def _created(meta: _Meta | None) -> float | None:
    return timestamp(meta.creation_timestamp) if meta is not None else None


def _container_statuses(
    statuses: list[_ContainerStatus] | None,
) -> tuple[ContainerStatusMetrics, ...]:
    out: list[ContainerStatusMetrics] = []
    for cs in statuses or ():
        state = cs.state or _State()
        started = finished = None
        reason = ""
        if state.running is not None:
            started = timestamp(state.running.started_at)
        elif state.terminated is not None:
            started = timestamp(state.terminated.started_at)
        if state.terminated is not None:
            finished = timestamp(state.terminated.finished_at)
            reason = state.terminated.reason or ""
        out.append(
            ContainerStatusMetrics(
                name=cs.name,
                image=cs.image,
                image_id=cs.image_id,
                container_id=cs.container_id,
                started_at=started,
                finished_at=finished,
                terminated_reason=reason,
            )
        )
    return tuple(out)


def _volume_claims(pod_name: str, volumes: list[_Volume] | None) -> tuple[VolumeClaim, ...]:
    out: list[VolumeClaim] = []
    for v in volumes or ():
        if v.persistent_volume_claim is not None:
            pvc = v.persistent_volume_claim
            out.append(VolumeClaim(v.name, pvc.claim_name, False, pvc.read_only))
        elif v.ephemeral is not None:
            # The claim an ephemeral volume gets is named <pod>-<volume>.
            out.append(VolumeClaim(v.name, f"{pod_name}-{v.name}", True, False))
    return tuple(out)


def _scaled(value: int | str | None, replicas: int, *, round_up: bool) -> int | None:
    """An int-or-percent scaled to `replicas` as the deployment controller does; None if bad."""
    if isinstance(value, int):
        return value
    if value is None or not value.endswith("%"):
        return None
    try:
        percent = int(value[:-1])
    except ValueError:
        return None
    scaled = percent * replicas / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        f"file:{quote(str(path))}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA query_only = 1")
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


class ObjectsReader:
    """Reads `ObjectsSnapshot`s of one store file, decoding only the pods that changed.

    Every read is one read transaction. It lists every pod's (uid,
    resourceVersion) — two leading columns, cheap — and reads and decodes
    in full only the pods whose version differs from the previous read; the
    others are the very `PodMetrics` objects of the previous snapshot. An
    object at a given resourceVersion is the same object, so the snapshot is
    exactly what one full read in that transaction would give; the cost of
    a scrape follows the churn, not the cluster size. Thread-safe (reads
    are serialized); blocking — call it in a worker thread.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pods: dict[str, PodMetrics] = {}
        self._lock = threading.Lock()
        self.pods_decoded = 0  # pods read and decoded in full by the last read

    def forget(self) -> None:
        """Drop the pods kept from the last read (the next read decodes every pod)."""
        with self._lock:
            self._pods = {}

    def read(self, kinds: Collection[Kind] = tuple(Kind)) -> ObjectsSnapshot:
        """Every object of `kinds`; raises the store's errors, never a raw sqlite3 one."""
        with self._lock:
            return self._read(kinds)

    def _read(self, kinds: Collection[Kind]) -> ObjectsSnapshot:
        started = time.perf_counter()
        path = self.path
        try:
            conn = _connect(path)
        except (sqlite3.Error, OSError) as e:
            raise translate(e, path) from e
        try:
            conn.execute("BEGIN")
            pods = self._read_pods(conn) if Kind.POD in kinds else []
            deployments = _read_deployments(conn) if Kind.DEPLOYMENT in kinds else []
            nodes = _read_nodes(conn) if Kind.NODE in kinds else []
            rows = {
                kind: _read_rows(conn, kind)
                for kind in kinds
                if STORED[kind].metric_samples is not None
            }
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as e:
            self._pods = {}
            raise translate(e, path) from e
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            self._pods = {}
            raise StoreError(f"database {path} holds a row the exporter cannot read ({e})") from e
        finally:
            conn.close()
        return ObjectsSnapshot(
            pods=pods,
            deployments=deployments,
            nodes=nodes,
            rows=rows,
            read_seconds=time.perf_counter() - started,
        )

    def _read_pods(self, conn: sqlite3.Connection) -> list[PodMetrics]:
        known = self._pods
        versions = conn.execute(_POD_VERSIONS_SQL).fetchall()
        changed = [
            uid for uid, rv in versions if (p := known.get(uid)) is None or p.resource_version != rv
        ]
        fresh: dict[str, PodMetrics] = {}
        if len(changed) > _FULL_SCAN_SHARE * len(versions):
            fresh = {p.uid: p for p in _query_pods(conn, "")}
        else:
            for i in range(0, len(changed), _LOOKUP_CHUNK):
                chunk = changed[i : i + _LOOKUP_CHUNK]
                where = f" WHERE uid IN ({','.join('?' * len(chunk))})"
                fresh.update((p.uid, p) for p in _query_pods(conn, where, chunk))
        self.pods_decoded = len(fresh)
        pods: list[PodMetrics] = []
        current: dict[str, PodMetrics] = {}
        for uid, _rv in versions:
            pod = fresh.get(uid) or known.get(uid)
            if pod is not None:
                pods.append(pod)
                current[uid] = pod
        self._pods = current
        return pods


def read_objects(path: Path, *, kinds: Collection[Kind] = tuple(Kind)) -> ObjectsSnapshot:
    """One full read of every object of `kinds` (blocking: call it in a thread)."""
    return ObjectsReader(path).read(kinds)


def _query_pods(
    conn: sqlite3.Connection, where: str, params: Sequence[str] = ()
) -> list[PodMetrics]:
    return _pods_from(conn.execute(_POD_SQL.format(where=where), params))


def _pod_object_of(raw: bytes | None) -> _PodObject:
    if not raw:
        return _NO_POD_OBJECT
    try:
        return _pod_object.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        # A stored object that is not a pod's JSON (hand-made rows): keep the row's own fields.
        return _NO_POD_OBJECT


def _pods_from(rows: sqlite3.Cursor) -> list[PodMetrics]:
    # Iterating the cursor (not fetchall) keeps one row tuple alive at a time.
    out: list[PodMetrics] = []
    append = out.append
    decode_containers = _containers.decode
    new = PodMetrics
    no_spec, no_status = _PodSpec(), _PodStatus()
    for (
        uid,
        rv,
        ns,
        name,
        node,
        phase,
        ready,
        containers,
        pod_ip,
        host_ip,
        ok,
        on,
        dep,
        raw,
    ) in rows:
        obj = _pod_object_of(raw)
        meta = obj.metadata
        spec = obj.spec or no_spec
        status = obj.status or no_status
        owners = meta.owner_references if meta is not None else None
        if owners is None:
            owners = (OwnerRef(kind=ok, name=on, controller=True),) if ok else ()
        scheduled = next((c for c in status.conditions or () if c.type == "PodScheduled"), None)
        append(
            new(
                uid=uid,
                resource_version=rv,
                namespace=ns,
                name=name,
                node=node or "",
                phase=phase or "",
                ready=ready,
                containers=decode_containers(containers) if containers else (),
                pod_ip=pod_ip or "",
                host_ip=host_ip or "",
                priority_class=spec.priority_class_name or "",
                host_network=bool(spec.host_network),
                owners=owners,
                deployment=dep or "",
                created=_created(meta),
                start_time=timestamp(status.start_time),
                restart_policy=spec.restart_policy or "",
                labels=_labels(meta),
                scheduled=scheduled.status if scheduled is not None else "",
                scheduled_time=(
                    timestamp(scheduled.last_transition_time) if scheduled is not None else None
                ),
                scheduled_reason=(scheduled.reason or "") if scheduled is not None else "",
                status_reason=status.reason or "",
                condition_reasons=frozenset(c.reason for c in status.conditions or () if c.reason),
                statuses=_container_statuses(status.container_statuses),
                init_statuses=_container_statuses(status.init_container_statuses),
                init_restart_policies=tuple(
                    (c.name, c.restart_policy or "") for c in spec.init_containers or ()
                ),
                volumes=_volume_claims(name, spec.volumes),
            )
        )
    return out


def _read_rows(conn: sqlite3.Connection, kind: Kind) -> list[Any]:
    """A kind's rows without their objects, as the store keeps them (`store.columns`)."""
    table = TABLES[kind]
    return [
        table.row(r) for r in conn.execute(f"SELECT {table.select_list_no_obj} FROM {table.table}")
    ]


def _deployment_object_of(raw: bytes | None) -> _DeploymentObject:
    try:
        return _deployment_object.decode(raw) if raw else _DeploymentObject()
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _DeploymentObject()


def _read_deployments(conn: sqlite3.Connection) -> list[DeploymentMetrics]:
    decode = _conditions.decode
    out: list[DeploymentMetrics] = []
    for r in conn.execute(_DEPLOYMENT_SQL):
        obj = _deployment_object_of(r[12])
        spec = obj.spec or _DeploymentSpec()
        rolling = spec.strategy.rolling_update if spec.strategy is not None else None
        surge = unavailable = None
        if rolling is not None and spec.replicas is not None:
            surge = _scaled(rolling.max_surge, spec.replicas, round_up=True)
            unavailable = _scaled(rolling.max_unavailable, spec.replicas, round_up=False)
        out.append(_deployment(r, decode, obj.metadata, surge, unavailable))
    return out


def _deployment(
    r: tuple[Any, ...],
    decode: Any,
    meta: _Meta | None,
    surge: int | None,
    unavailable: int | None,
) -> DeploymentMetrics:
    return DeploymentMetrics(
        namespace=r[0],
        name=r[1],
        generation=r[2] or 0,
        observed_generation=r[3] or 0,
        paused=bool(r[4]),
        replicas=r[5] or 0,
        status_replicas=r[6] or 0,
        ready_replicas=r[7] or 0,
        available_replicas=r[8] or 0,
        unavailable_replicas=r[9] or 0,
        updated_replicas=r[10] or 0,
        conditions=decode(r[11]) if r[11] else {},
        created=_created(meta),
        labels=_labels(meta),
        max_surge=surge,
        max_unavailable=unavailable,
    )


def _read_nodes(conn: sqlite3.Connection) -> list[NodeMetrics]:
    out: list[NodeMetrics] = []
    for r in conn.execute(_NODE_SQL):
        try:
            obj = _node_object.decode(r[15]) if r[15] else _NodeObject()
        except (msgspec.DecodeError, msgspec.ValidationError):
            obj = _NodeObject()
        spec = obj.spec or _NodeSpec()
        status = obj.status or _NodeStatus()
        info = status.node_info or _NodeInfo()
        out.append(
            NodeMetrics(
                name=r[0],
                unschedulable=bool(r[1]),
                taints=_taints.decode(r[2]) if r[2] else (),
                conditions=_conditions.decode(r[3]) if r[3] else {},
                kernel_version=r[4] or "",
                os_image=r[5] or "",
                container_runtime_version=r[6] or "",
                kubelet_version=r[7] or "",
                kubeproxy_version=info.kube_proxy_version,
                created=_created(obj.metadata),
                labels=_labels(obj.metadata),
                pod_cidr=spec.pod_cidr,
                provider_id=spec.provider_id,
                system_uuid=info.system_uuid,
                internal_ip=r[8] or "",
                # The stored object has every resource; the columns only cpu, memory, pods.
                capacity=status.capacity or _basic_resources(r[9], r[10], r[11]),
                allocatable=status.allocatable or _basic_resources(r[12], r[13], r[14]),
            )
        )
    return out


def _basic_resources(cpu_m: int | None, memory: int | None, pods: int | None) -> dict[str, str]:
    return {"cpu": f"{cpu_m or 0}m", "memory": str(memory or 0), "pods": str(pods or 0)}


# --- copying the in-memory aggregates --------------------------------------------------------


class TotalsCopy(msgspec.Struct, frozen=True, gc=False):
    """One namespace's or node's pod sums (requests and limits of non-terminated pods)."""

    key: str
    pods: int
    ready: int
    restarts: int
    cpu_request_m: int
    cpu_limit_m: int
    memory_request_bytes: int
    memory_limit_bytes: int
    phases: dict[str, int]
    statuses: dict[str, int]


class NamespaceDeployments(msgspec.Struct, frozen=True, gc=False):
    namespace: str
    deployments: int
    statuses: dict[str, int]
    desired: int
    ready: int
    available: int
    updated: int
    unavailable: int


class AggregatesSnapshot(msgspec.Struct, frozen=True):
    """One committed version of the store's aggregates (`version`), copied out of the view.

    `deployments` and `nodes` are the view's own immutable states: copying
    the lists is one C-level pass, and `deployments_by_namespace()` sums them
    later, off the event loop.
    """

    version: int
    cluster: TotalsCopy
    namespaces: list[TotalsCopy]
    nodes_totals: list[TotalsCopy]
    nodes: list[NodeState]
    deployments: list[DeploymentState]
    objects: dict[Kind, int]
    sync: dict[Kind, SyncState]

    @property
    def object_count(self) -> int:
        return sum(self.objects.values())

    def deployments_by_namespace(self) -> list[NamespaceDeployments]:
        sums: dict[str, list[Any]] = {}
        for d in self.deployments:
            s = sums.get(d.namespace)
            if s is None:
                s = sums[d.namespace] = [0, {}, 0, 0, 0, 0, 0]
            s[0] += 1
            s[1][d.status] = s[1].get(d.status, 0) + 1
            s[2] += d.replicas
            s[3] += d.ready_replicas
            s[4] += d.available_replicas
            s[5] += d.updated_replicas
            s[6] += d.unavailable_replicas
        return [
            NamespaceDeployments(
                namespace=ns,
                deployments=s[0],
                statuses=s[1],
                desired=s[2],
                ready=s[3],
                available=s[4],
                updated=s[5],
                unavailable=s[6],
            )
            for ns, s in sums.items()
        ]


def _copy_totals(key: str, t: Any) -> TotalsCopy:
    return TotalsCopy(
        key=key,
        pods=t.pods,
        ready=t.ready,
        restarts=t.restarts,
        cpu_request_m=t.cpu_request_m,
        cpu_limit_m=t.cpu_limit_m,
        memory_request_bytes=t.memory_request_bytes,
        memory_limit_bytes=t.memory_limit_bytes,
        phases=dict(t.phases),
        statuses=dict(t.statuses),
    )


def take_aggregates(view: View) -> AggregatesSnapshot:
    """Copy the view's aggregates; synchronous, on the event loop that runs the writer.

    No await happens between the first and the last read, so every number
    belongs to the same commit (`view.version`).
    """
    return AggregatesSnapshot(
        version=view.version,
        cluster=_copy_totals("", view.cluster),
        namespaces=[_copy_totals(ns, t) for ns, t in view.by_namespace.items()],
        nodes_totals=[_copy_totals(node, t) for node, t in view.by_node.items()],
        nodes=[state for _uid, state in view.nodes.values()],
        deployments=[state for _uid, state in view.deployments.values()],
        objects={k: view.objects(k) for k in Kind},
        sync=dict(view.sync),
    )
