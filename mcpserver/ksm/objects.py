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

Init containers have their own `kube_pod_init_container_*` families, as
there. The container state families (`..._status_waiting`, `_running`, ...)
have a series per container status the kubelet reported.
- `kube_*_labels`: a series only for a resource `--metric-labels-allowlist`
  names (none by default), with a `label_<key>` per allowed label.
- `kube_replicaset_owner`: ReplicaSets are not stored; each pod's row knows
  its ReplicaSet (controller) and that ReplicaSet's Deployment, so the
  series comes from the pods — one per ReplicaSet that controls a current
  pod and belongs to a Deployment (what the mixin's pod -> workload join
  needs; a ReplicaSet without pods has no series).

Like kube-state-metrics, each object's lines are rendered once and kept:
`ObjectsBlocks` renders only the objects that changed since the previous
snapshot, and keeps their lines compressed by block and family
(`mcpserver.ksm.blocks`), so a scrape's cost follows the churn rather than
the cluster size. `FragmentCache` is the plain (uncompressed) per-object
cache summary mode uses for its node lines.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, TypeVar

from kinds import STORED, KindSpec
from mcpserver.ksm.blocks import BlockCache, Segment, segment
from mcpserver.ksm.families import KSM, Family, LabelsAllowlist, LabelsFilter, labels_line
from mcpserver.ksm.textformat import cores, escape, resource_value
from store.model import ContainerRow
from store.snapshot import (
    ContainerStatusMetrics,
    DeploymentMetrics,
    NodeMetrics,
    ObjectsSnapshot,
    PodMetrics,
)

__all__ = ["FragmentCache", "Layout", "ObjectsBlocks", "Piece"]

Piece = Callable[[], str]
T = TypeVar("T")

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


Previous = tuple[T, tuple[str, ...]] | None  # an object's previous version and its lines


def _resource_key(p: PodMetrics) -> list[tuple[object, ...]]:
    return [
        (
            c.name,
            c.init,
            c.cpu_request_m,
            c.memory_request_bytes,
            c.cpu_limit_m,
            c.memory_limit_bytes,
        )
        for c in p.containers
    ]


def _pod_fragments(
    p: PodMetrics, previous: Previous[PodMetrics] = None, *, allowed: LabelsFilter | None = None
) -> tuple[str, ...]:
    """A pod's lines for each of `POD_FAMILIES`, in that order.

    With its `previous` version (same uid), the lines of fields that did
    not change are reused: under churn a pod's status moves (a restart, a
    phase) while its placement, owners and resources stay — and those are
    most of the text.
    """
    lab = f'namespace="{escape(p.namespace)}",pod="{escape(p.name)}",uid="{escape(p.uid)}"'
    node = escape(p.node)
    old, old_lines = previous if previous is not None else (None, ())
    if (
        old is not None
        and old.node == p.node
        and old.host_ip == p.host_ip
        and old.pod_ip == p.pod_ip
        and old.priority_class == p.priority_class
        and old.host_network == p.host_network
        and old.owners == p.owners
    ):
        info, owner = old_lines[0], old_lines[1]
    else:
        info, owner = _pod_identity(p, lab, node)
    same_resources = (
        old is not None and old.node == p.node and _resource_key(old) == _resource_key(p)
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
        if same_resources:
            continue
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
        old_lines[7] if same_resources else "".join(requests),
        old_lines[8] if same_resources else "".join(limits),
        *_pod_more(p, lab, allowed),
    )


def _pod_identity(p: PodMetrics, lab: str, node: str) -> tuple[str, str]:
    """The pod's kube_pod_info and kube_pod_owner lines."""
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
    return info, owner


_POD_CORE = (
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
# The families `_pod_more` renders, in its order.
_POD_MORE = (
    "kube_pod_created",
    "kube_pod_start_time",
    "kube_pod_completion_time",
    "kube_pod_labels",
    "kube_pod_restart_policy",
    "kube_pod_status_scheduled",
    "kube_pod_status_scheduled_time",
    "kube_pod_status_unschedulable",
    "kube_pod_status_reason",
    "kube_pod_container_info",
    "kube_pod_container_status_waiting",
    "kube_pod_container_status_running",
    "kube_pod_container_status_terminated",
    "kube_pod_container_status_ready",
    "kube_pod_container_state_started",
    "kube_pod_init_container_info",
    "kube_pod_init_container_status_waiting",
    "kube_pod_init_container_status_running",
    "kube_pod_init_container_status_terminated",
    "kube_pod_init_container_status_ready",
    "kube_pod_init_container_status_restarts_total",
    "kube_pod_spec_volumes_persistentvolumeclaims_info",
    "kube_pod_spec_volumes_persistentvolumeclaims_readonly",
)
POD_FAMILIES: tuple[Family, ...] = tuple(KSM[name] for name in (*_POD_CORE, *_POD_MORE))

# The reasons kube_pod_status_reason names (a pod's status.reason, a condition's reason or a
# terminated container's reason); any other status.reason is exported as "Other".
_POD_REASONS = (
    "Evicted",
    "NodeAffinity",
    "NodeLost",
    "PreemptionByScheduler",
    "SchedulingGated",
    "Shutdown",
    "TerminationByKubelet",
    "UnexpectedAdmissionError",
)


def _seconds(metric: str, lab: str, value: float | None) -> str:
    return f"{metric}{{{lab}}} {int(value)}\n" if value is not None else ""


def _flag(value: bool) -> int:
    return 1 if value else 0


def _pod_more(p: PodMetrics, lab: str, allowed: LabelsFilter | None) -> tuple[str, ...]:
    """A pod's lines for each of `_POD_MORE`, in that order."""
    completion = max((s.finished_at for s in p.statuses if s.finished_at is not None), default=None)
    scheduled = ""
    if p.scheduled:
        status = p.scheduled.lower()
        scheduled = "".join(
            f'kube_pod_status_scheduled{{{lab},condition="{s}"}} {int(s == status)}\n'
            for s in _STATUSES
        )
    terminated_reasons = {s.terminated_reason for s in p.statuses}
    reasons = "".join(
        f'kube_pod_status_reason{{{lab},reason="{r}"}} 1\n'
        for r in _POD_REASONS
        if p.status_reason == r or r in p.condition_reasons or r in terminated_reasons
    )
    if p.status_reason and p.status_reason not in _POD_REASONS:
        reasons += f'kube_pod_status_reason{{{lab},reason="Other"}} 1\n'
    app = [c for c in p.containers if not c.init]
    init = [c for c in p.containers if c.init]
    app_images = {c.name: c.image for c in app}
    init_images = {c.name: c.image for c in init}
    policies = dict(p.init_restart_policies)
    claims = []
    readonly = []
    for v in p.volumes:
        cl = (
            f'{lab},volume="{escape(v.volume)}",persistentvolumeclaim="{escape(v.claim)}",'
            f'ephemeral="{"true" if v.ephemeral else "false"}"'
        )
        claims.append(f"kube_pod_spec_volumes_persistentvolumeclaims_info{{{cl}}} 1\n")
        readonly.append(
            f"kube_pod_spec_volumes_persistentvolumeclaims_readonly{{{cl}}} {_flag(v.read_only)}\n"
        )
    return (
        _seconds("kube_pod_created", lab, p.created),
        _seconds("kube_pod_start_time", lab, p.start_time),
        _seconds("kube_pod_completion_time", lab, completion),
        labels_line("kube_pod_labels", lab, p.labels, allowed),
        f'kube_pod_restart_policy{{{lab},type="{escape(p.restart_policy)}"}} 1\n'
        if p.restart_policy
        else "",
        scheduled,
        _seconds("kube_pod_status_scheduled_time", lab, p.scheduled_time)
        if p.scheduled == "True"
        else "",
        f"kube_pod_status_unschedulable{{{lab}}} 1\n"
        if p.scheduled == "False" and p.scheduled_reason == "Unschedulable"
        else "",
        reasons,
        *_container_lines("kube_pod_container", lab, app, p.statuses, app_images, None),
        *_container_lines(
            "kube_pod_init_container", lab, init, p.init_statuses, init_images, policies
        ),
        "".join(claims),
        "".join(readonly),
    )


def _container_lines(
    prefix: str,
    lab: str,
    rows: list[ContainerRow],
    statuses: tuple[ContainerStatusMetrics, ...],
    images: dict[str, str],
    policies: dict[str, str] | None,
) -> tuple[str, ...]:
    """info, status_waiting/running/terminated/ready, then state_started (app containers) or
    status_restarts_total (init containers): one series per container with a status."""
    info: list[str] = []
    for s in statuses:
        if s.name not in images:
            continue
        extra = (
            f',restart_policy="{escape(policies.get(s.name, ""))}"' if policies is not None else ""
        )
        info.append(
            f'{prefix}_info{{{lab},container="{escape(s.name)}",image_spec="{escape(images[s.name])}",'
            f'image="{escape(s.image)}",image_id="{escape(s.image_id)}",'
            f'container_id="{escape(s.container_id)}"{extra}}} 1\n'
        )
    waiting: list[str] = []
    running: list[str] = []
    terminated: list[str] = []
    ready: list[str] = []
    # As kube-state-metrics: a series per container status (none before the kubelet reports).
    reported = {s.name for s in statuses}
    for c in rows:
        if c.name not in reported:
            continue
        cl = f'{lab},container="{escape(c.name)}"'
        waiting.append(f"{prefix}_status_waiting{{{cl}}} {_flag(c.state == 'waiting')}\n")
        running.append(f"{prefix}_status_running{{{cl}}} {_flag(c.state == 'running')}\n")
        terminated.append(f"{prefix}_status_terminated{{{cl}}} {_flag(c.state == 'terminated')}\n")
        ready.append(f"{prefix}_status_ready{{{cl}}} {_flag(c.ready)}\n")
    if policies is None:
        last = "".join(
            f'{prefix}_state_started{{{lab},container="{escape(s.name)}"}} {int(s.started_at)}\n'
            for s in statuses
            if s.started_at is not None
        )
    else:
        last = "".join(
            f'{prefix}_status_restarts_total{{{lab},container="{escape(c.name)}"}} {c.restarts}\n'
            for c in rows
            if c.name in reported
        )
    return (
        "".join(info),
        "".join(waiting),
        "".join(running),
        "".join(terminated),
        "".join(ready),
        last,
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

_DEPLOYMENT_MORE = (
    "kube_deployment_spec_paused",
    "kube_deployment_spec_strategy_rollingupdate_max_unavailable",
    "kube_deployment_spec_strategy_rollingupdate_max_surge",
    "kube_deployment_created",
    "kube_deployment_labels",
)

DEPLOYMENT_FAMILIES: tuple[Family, ...] = (
    *(KSM[name] for name, _value in _DEPLOYMENT_VALUES),
    KSM["kube_deployment_status_condition"],
    *(KSM[name] for name in _DEPLOYMENT_MORE),
)


def _deployment_fragments(
    d: DeploymentMetrics,
    previous: Previous[DeploymentMetrics] = None,
    *,
    allowed: LabelsFilter | None = None,
) -> tuple[str, ...]:
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
        f"kube_deployment_spec_paused{{{lab}}} {_flag(d.paused)}\n",
        _seconds(
            "kube_deployment_spec_strategy_rollingupdate_max_unavailable", lab, d.max_unavailable
        ),
        _seconds("kube_deployment_spec_strategy_rollingupdate_max_surge", lab, d.max_surge),
        _seconds("kube_deployment_created", lab, d.created),
        labels_line("kube_deployment_labels", lab, d.labels, allowed),
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
        "kube_node_created",
        "kube_node_labels",
        "kube_node_role",
    )
)
_ROLE_PREFIX = "node-role.kubernetes.io/"


def _resources(metric: str, lab: str, resources: dict[str, str]) -> str:
    lines = []
    for resource, quantity in resources.items():
        found = resource_value(resource, quantity)
        if found is not None:
            name, unit, value = found
            lines.append(f'{metric}{{{lab},resource="{name}",unit="{unit}"}} {value}\n')
    return "".join(lines)


def _node_fragments(
    n: NodeMetrics, previous: Previous[NodeMetrics] = None, *, allowed: LabelsFilter | None = None
) -> tuple[str, ...]:
    """A node's lines for each of `NODE_FAMILIES`, in that order."""
    lab = f'node="{escape(n.name)}"'
    info = (
        f'kube_node_info{{{lab},kernel_version="{escape(n.kernel_version)}",'
        f'os_image="{escape(n.os_image)}",'
        f'container_runtime_version="{escape(n.container_runtime_version)}",'
        f'kubelet_version="{escape(n.kubelet_version)}",'
        # kube-state-metrics prints "deprecated": kube-proxy no longer reports its version.
        f'kubeproxy_version="deprecated",pod_cidr="{escape(n.pod_cidr)}",'
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
        _seconds("kube_node_created", lab, n.created),
        labels_line("kube_node_labels", lab, n.labels, allowed),
        "".join(
            f'kube_node_role{{{lab},role="{escape(k[len(_ROLE_PREFIX) :])}"}} 1\n'
            for k, _v in n.labels
            if k.startswith(_ROLE_PREFIX)
        ),
    )


# --- the cache and the pieces -------------------------------------------------------------


def _sample_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _kind_families(spec: KindSpec[Any], rows: Sequence[Any]) -> list[tuple[Family, list[Segment]]]:
    """A kind's families from its own samples (`KindSpec.metric_samples`), rendered afresh.

    For the kinds that count in the hundreds (StatefulSets, ...): no cache, one segment per
    family; pods, deployments and nodes have the incremental blocks above.
    """
    samples = spec.metric_samples
    assert samples is not None
    lines: dict[str, list[str]] = {f.name: [] for f in spec.metric_families}
    for row in rows:
        for name, values, value in samples(row):
            labels = KSM[name].labels
            pairs = ",".join(f'{k}="{escape(v)}"' for k, v in zip(labels, values, strict=True))
            lines[name].append(f"{name}{{{pairs}}} {_sample_value(value)}\n")
    return [(KSM[f.name], [segment("".join(lines[f.name]))]) for f in spec.metric_families]


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


@functools.cache
def header_segment(family: Family, *, openmetrics: bool) -> Segment:
    return segment(family.header(openmetrics=openmetrics))


class Layout:
    """One snapshot's kube-state-metrics families: per family, its compressed lines in order.

    Holds the segments themselves (immutable), so it stays the exposition
    of its snapshot while the blocks move on to later ones.
    """

    def __init__(self, families: list[tuple[Family, list[Segment]]]) -> None:
        self.families = families

    def segments(self, *, openmetrics: bool) -> Iterator[Segment]:
        for family, segments in self.families:
            yield header_segment(family, openmetrics=openmetrics)
            yield from segments


def _replicaset_owners(pods: Sequence[PodMetrics]) -> list[tuple[Family, list[Segment]]]:
    """kube_replicaset_owner for each ReplicaSet that controls a pod and belongs to a Deployment.

    ReplicaSets are not stored; a pod's row names the Deployment its ReplicaSet belongs to, so
    the links the mixin joins on (pod -> ReplicaSet -> Deployment) come from the pods.
    """
    links = {
        (p.namespace, o.name, p.deployment)
        for p in pods
        if p.deployment
        for o in p.owners
        if o.controller and o.kind == "ReplicaSet"
    }
    text = "".join(
        f'kube_replicaset_owner{{namespace="{escape(ns)}",replicaset="{escape(rs)}",'
        f'owner_kind="Deployment",owner_name="{escape(dep)}",owner_is_controller="true"}} 1\n'
        for ns, rs, dep in sorted(links)
    )
    return [(KSM["kube_replicaset_owner"], [segment(text)])]


def _filter(allow: LabelsAllowlist, resource: str) -> LabelsFilter | None:
    keys = allow.get(resource)
    return LabelsFilter(keys) if keys else None


class ObjectsBlocks:
    """The rendered, compressed lines of every pod, deployment and node, kept across snapshots.

    `labels_allowlist`: the Kubernetes labels each `*_labels` family carries (none by default).
    """

    def __init__(self, labels_allowlist: LabelsAllowlist | None = None) -> None:
        allow = labels_allowlist or {}
        self.pods = BlockCache[PodMetrics](
            families=len(POD_FAMILIES),
            key=lambda p: p.uid,
            make=functools.partial(_pod_fragments, allowed=_filter(allow, "pods")),
        )
        self.deployments = BlockCache[DeploymentMetrics](
            families=len(DEPLOYMENT_FAMILIES),
            key=lambda d: (d.namespace, d.name),
            make=functools.partial(_deployment_fragments, allowed=_filter(allow, "deployments")),
        )
        self.nodes = BlockCache[NodeMetrics](
            families=len(NODE_FAMILIES),
            key=lambda n: n.name,
            make=functools.partial(_node_fragments, allowed=_filter(allow, "nodes")),
        )

    def update(self, snapshot: ObjectsSnapshot) -> Layout:
        """Bring the blocks to `snapshot`; its exposition, ready to send."""
        self.pods.update(snapshot.pods)
        self.deployments.update(snapshot.deployments)
        self.nodes.update(snapshot.nodes)
        return Layout(
            [(f, self.pods.segments(i)) for i, f in enumerate(POD_FAMILIES)]
            + [(f, self.deployments.segments(i)) for i, f in enumerate(DEPLOYMENT_FAMILIES)]
            + [(f, self.nodes.segments(i)) for i, f in enumerate(NODE_FAMILIES)]
            + _replicaset_owners(snapshot.pods)
            + [
                family
                for kind, rows in snapshot.rows.items()
                for family in _kind_families(STORED[kind], rows)
            ]
        )

    @property
    def rendered(self) -> int:
        return self.pods.rendered + self.deployments.rendered + self.nodes.rendered

    @property
    def compressed(self) -> int:
        return self.pods.compressed + self.deployments.compressed + self.nodes.compressed
