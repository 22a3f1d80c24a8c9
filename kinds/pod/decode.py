"""Pods: decoding, kubectl's STATUS column, and the row the store keeps.

`pod_status` reproduces kubectl's printPod (kubectl 1.32) branch by branch,
because that string is what people read and search for: `Init:0/2`,
`Init:CrashLoopBackOff`, `CrashLoopBackOff`, `OOMKilled`, `ExitCode:137`,
`Completed`, `NotReady`, `Terminating`, `Unknown` (node lost), `SchedulingGated`,
`Evicted`. The deployment a pod belongs to is derived here from the
ReplicaSet's name and the `pod-template-hash` label (how Deployments name
their ReplicaSets); the informer corrects it when it knows the ReplicaSet.
"""

from __future__ import annotations

import msgspec

from kinds.meta import (
    ConditionIn,
    KubeObject,
    OwnerReference,
    Resource,
    conditions_by_type,
    controller_of,
    cpu_m,
    encode_object,
    memory_b,
)
from kinds.pod.row import ContainerRow, PodRow
from kinds.redaction import EnvHolder, redact_pod

__all__ = [
    "RESOURCE",
    "PodSpec",
    "PodStatus",
    "derived_deployment",
    "normalize",
    "pod_status",
]

RESOURCE = Resource(kind="Pod", plural="pods", group_version="v1", namespaced=True)

Quantity = str | int | float


class ResourceList(msgspec.Struct, gc=False, frozen=True):
    # Only what rows carry; other resources (ephemeral-storage, GPUs) are skipped.
    cpu: Quantity | None = None
    memory: Quantity | None = None


_NO_RESOURCES = ResourceList()


class Resources(msgspec.Struct, gc=False):
    requests: ResourceList = _NO_RESOURCES
    limits: ResourceList = _NO_RESOURCES


class Container(msgspec.Struct, gc=False, rename="camel"):
    name: str = ""
    image: str = ""
    resources: Resources | None = None
    restart_policy: str | None = None  # "Always" on an init container: a sidecar
    env: msgspec.Raw = msgspec.Raw()  # left undecoded, for redaction


class PodSpec(msgspec.Struct, gc=False, rename="camel"):
    node_name: str | None = None
    containers: list[Container] = []
    init_containers: list[Container] = []
    ephemeral_containers: list[EnvHolder] | None = None


class Waiting(msgspec.Struct, gc=False):
    reason: str | None = None
    message: str | None = None


class Running(msgspec.Struct, gc=False, rename="camel"):
    started_at: str | None = None


class Terminated(msgspec.Struct, gc=False, rename="camel"):
    exit_code: int = 0
    signal: int = 0
    reason: str | None = None
    message: str | None = None
    finished_at: str | None = None


class ContainerState(msgspec.Struct, gc=False):
    waiting: Waiting | None = None
    running: Running | None = None
    terminated: Terminated | None = None


class ContainerStatus(msgspec.Struct, gc=False, rename="camel"):
    name: str = ""
    ready: bool = False
    started: bool | None = None
    restart_count: int = 0
    image: str = ""
    state: ContainerState | None = None
    last_state: ContainerState | None = None


class PodStatus(msgspec.Struct, gc=False, rename="camel"):
    phase: str | None = None
    reason: str | None = None
    message: str | None = None
    conditions: list[ConditionIn] = []
    container_statuses: list[ContainerStatus] = []
    init_container_statuses: list[ContainerStatus] = []
    qos_class: str | None = None
    pod_ip: str | None = msgspec.field(default=None, name="podIP")
    host_ip: str | None = msgspec.field(default=None, name="hostIP")
    start_time: str | None = None


_spec_decoder = msgspec.json.Decoder(PodSpec)
_status_decoder = msgspec.json.Decoder(PodStatus)
_EMPTY_STATE = ContainerState()


def _condition_true(status: PodStatus, type_: str) -> bool:
    return any(c.type == type_ and c.status == "True" for c in status.conditions)


def pod_status(spec: PodSpec, status: PodStatus, *, deleting: bool) -> str:
    """kubectl's STATUS column for a pod (printPod in kubectl's printers)."""
    phase = status.phase or ""
    reason = status.reason or phase
    for c in status.conditions:
        if c.type == "PodScheduled" and c.reason == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    sidecars = (
        {c.name for c in spec.init_containers if c.restart_policy == "Always"}
        if status.init_container_statuses
        else set()
    )
    for i, cs in enumerate(status.init_container_statuses):
        state = cs.state or _EMPTY_STATE
        term, wait = state.terminated, state.waiting
        if term is not None and term.exit_code == 0:
            continue
        if cs.name in sidecars and cs.started:
            continue
        if term is not None:
            if term.reason:
                reason = "Init:" + term.reason
            elif term.signal:
                reason = f"Init:Signal:{term.signal}"
            else:
                reason = f"Init:ExitCode:{term.exit_code}"
        elif wait is not None and wait.reason and wait.reason != "PodInitializing":
            reason = "Init:" + wait.reason
        else:
            reason = f"Init:{i}/{len(spec.init_containers)}"
        initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        has_running = False
        for cs in reversed(status.container_statuses):
            state = cs.state or _EMPTY_STATE
            term, wait = state.terminated, state.waiting
            if wait is not None and wait.reason:
                reason = wait.reason
            elif term is not None and term.reason:
                reason = term.reason
            elif term is not None:
                reason = f"Signal:{term.signal}" if term.signal else f"ExitCode:{term.exit_code}"
            elif cs.ready and state.running is not None:
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    if deleting and status.reason == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason


def derived_deployment(obj: KubeObject, owner: OwnerReference | None = None) -> str | None:
    """The Deployment a pod's ReplicaSet was named after, or None.

    A Deployment names its ReplicaSets `<deployment>-<pod-template-hash>` and
    labels their pods with that hash, so the name is known before the
    ReplicaSet itself has been seen.
    """
    if owner is None:
        owner = controller_of(obj.metadata)
    if owner is None or owner.kind != "ReplicaSet":
        return None
    template_hash = (obj.metadata.labels or {}).get("pod-template-hash")
    if template_hash and owner.name.endswith("-" + template_hash):
        return owner.name[: -len(template_hash) - 1] or None
    return None


def _container_row(c: Container, cs: ContainerStatus | None, *, init: bool) -> ContainerRow:
    res = c.resources
    req = res.requests if res is not None else _NO_RESOURCES
    lim = res.limits if res is not None else _NO_RESOURCES
    cpu_req, cpu_lim = cpu_m(req.cpu), cpu_m(lim.cpu)
    mem_req, mem_lim = memory_b(req.memory), memory_b(lim.memory)
    if cs is None:
        return ContainerRow(
            name=c.name,
            image=c.image,
            init=init,
            cpu_request_m=cpu_req,
            cpu_limit_m=cpu_lim,
            memory_request_bytes=mem_req,
            memory_limit_bytes=mem_lim,
        )
    state = cs.state or _EMPTY_STATE
    last = (cs.last_state or _EMPTY_STATE).terminated
    waiting, terminated = state.waiting, state.terminated
    if state.running is not None:
        kind = "running"
    elif terminated is not None:
        kind = "terminated"
    else:
        kind = "waiting"
    return ContainerRow(
        name=c.name,
        image=c.image or cs.image,
        init=init,
        ready=cs.ready,
        started=bool(cs.started),
        restarts=cs.restart_count,
        state=kind,
        waiting_reason=(waiting.reason or None) if waiting is not None else None,
        waiting_message=(waiting.message or None) if waiting is not None else None,
        terminated_reason=(terminated.reason or None) if terminated is not None else None,
        exit_code=terminated.exit_code if terminated is not None else None,
        last_terminated_reason=(last.reason or None) if last is not None else None,
        last_terminated_exit_code=last.exit_code if last is not None else None,
        last_terminated_at=last.finished_at if last is not None else None,
        cpu_request_m=cpu_req,
        cpu_limit_m=cpu_lim,
        memory_request_bytes=mem_req,
        memory_limit_bytes=mem_lim,
    )


def normalize(obj: KubeObject, *, reveal_env_values: bool = False) -> PodRow:
    """The store row for one pod; literal env values redacted unless revealed (see redaction)."""
    meta = obj.metadata
    spec = _spec_decoder.decode(obj.spec) if obj.spec else PodSpec()
    status = _status_decoder.decode(obj.status) if obj.status else PodStatus()

    containers: list[ContainerRow] = []
    if spec.init_containers:
        init_statuses = {cs.name: cs for cs in status.init_container_statuses}
        containers = [
            _container_row(c, init_statuses.get(c.name), init=True) for c in spec.init_containers
        ]
    app_statuses = {cs.name: cs for cs in status.container_statuses}
    restarts = cpu_req = cpu_lim = mem_req = mem_lim = 0
    for c in spec.containers:
        row = _container_row(c, app_statuses.get(c.name), init=False)
        containers.append(row)
        restarts += row.restarts
        cpu_req += row.cpu_request_m or 0
        cpu_lim += row.cpu_limit_m or 0
        mem_req += row.memory_request_bytes or 0
        mem_lim += row.memory_limit_bytes or 0

    conditions = conditions_by_type(status.conditions)
    scheduled = conditions.get("PodScheduled")
    ready = conditions.get("Ready")
    owner = controller_of(meta)
    if not reveal_env_values:
        env_lists = [c.env for c in spec.containers if c.env]
        if spec.init_containers:
            env_lists += [c.env for c in spec.init_containers if c.env]
        if spec.ephemeral_containers:
            env_lists += [c.env for c in spec.ephemeral_containers if c.env]
        redact_pod(obj, env_lists)
    return PodRow(
        uid=meta.uid,
        namespace=meta.namespace or "",
        name=meta.name,
        resource_version=meta.resource_version,
        created_at=meta.creation_timestamp,
        labels=meta.labels or {},
        node=spec.node_name or None,
        owner_kind=owner.kind if owner else None,
        owner_name=owner.name if owner else None,
        deployment=derived_deployment(obj, owner),
        phase=status.phase or "Pending",
        ready=ready is not None and ready.status == "True",
        status=pod_status(spec, status, deleting=meta.deletion_timestamp is not None),
        reason=status.reason or None,
        message=status.message or None,
        unschedulable=(
            scheduled is not None
            and scheduled.status == "False"
            and scheduled.reason == "Unschedulable"
        ),
        conditions=conditions,
        containers=tuple(containers),
        restarts=restarts,
        cpu_request_m=cpu_req,
        cpu_limit_m=cpu_lim,
        memory_request_bytes=mem_req,
        memory_limit_bytes=mem_lim,
        qos_class=status.qos_class,
        pod_ip=status.pod_ip or None,
        host_ip=status.host_ip or None,
        start_time=status.start_time,
        deletion_at=meta.deletion_timestamp,
        obj=encode_object(obj, RESOURCE),
    )
