"""Moving a pod between the states a real cluster shows.

Each helper edits a pod dict (a fresh copy from the store) the way the
component responsible would: the scheduler sets PodScheduled, the kubelet
rewrites container statuses, the node lifecycle controller marks pods not
ready. They keep the invariants clients rely on: `restartCount` only rises
and rises when a new container starts; the previous termination moves to
`lastState`; `phase` follows the kubelet's rules (a container waiting without
ever having run keeps the pod Pending, a crash-looping one leaves it Running);
Ready and ContainersReady follow the containers; `lastTransitionTime` changes
only when a condition's status does.
"""

from __future__ import annotations

from .objects import Obj, condition, image_id, normalized_image, touch_managed_fields

__all__ = [
    "CONDITION_ORDER",
    "back_off_container",
    "compute_phase",
    "container_status",
    "fail_container_config",
    "fail_image_pull",
    "mark_container_creating",
    "mark_evicted",
    "mark_not_ready",
    "mark_sandbox_ready",
    "mark_scheduled",
    "mark_stopped_for_deletion",
    "mark_unknown",
    "mark_unschedulable",
    "refresh_pod",
    "set_pod_condition",
    "start_container",
    "terminate_container",
]

CONDITION_ORDER = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
    "DisruptionTarget",
)


def set_pod_condition(
    pod: Obj,
    kind: str,
    status: str,
    now: str,
    *,
    reason: str | None = None,
    message: str | None = None,
) -> None:
    """Set one condition, keeping lastTransitionTime when the status is unchanged."""
    conditions: list[Obj] = pod["status"].setdefault("conditions", [])
    for index, current in enumerate(conditions):
        if current.get("type") == kind:
            transition = (
                current.get("lastTransitionTime") if current.get("status") == status else now
            )
            new = condition(kind, status, transition or now, reason=reason, message=message)
            if new != current:
                conditions[index] = new
            return
    new = condition(kind, status, now, reason=reason, message=message)
    rank = CONDITION_ORDER.index(kind) if kind in CONDITION_ORDER else len(CONDITION_ORDER)
    position = len(conditions)
    for index, current in enumerate(conditions):
        other = current.get("type")
        other_rank = CONDITION_ORDER.index(other) if other in CONDITION_ORDER else 99
        if other_rank > rank:
            position = index
            break
    conditions.insert(position, new)


def _statuses(pod: Obj) -> list[Obj]:
    statuses: list[Obj] = pod["status"].setdefault("containerStatuses", [])
    return statuses


def container_status(pod: Obj, name: str) -> Obj:
    """The (mutable) status entry of container `name`."""
    for status in _statuses(pod):
        if status.get("name") == name:
            return status
    raise KeyError(f"pod {pod['metadata'].get('name')} has no container {name!r}")


def _spec_container(pod: Obj, name: str) -> Obj:
    for container in pod["spec"]["containers"]:
        if container["name"] == name:
            return dict(container)
    raise KeyError(f"pod {pod['metadata'].get('name')} has no container {name!r}")


def _mounts(container: Obj) -> list[Obj]:
    """The container's mounts as the kubelet reports them in its status."""
    return [
        {**mount, "recursiveReadOnly": "Disabled"} if mount.get("readOnly") else dict(mount)
        for mount in container.get("volumeMounts") or ()
    ]


def compute_phase(pod: Obj) -> str:
    """The pod phase from its container states, by the kubelet's rules."""
    running = waiting = stopped = succeeded = 0
    for status in pod["status"].get("containerStatuses") or ():
        state = status.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif (status.get("lastState") or {}).get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        policy = pod["spec"].get("restartPolicy", "Always")
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Running" if policy == "OnFailure" else "Failed"
    return "Pending"


def refresh_pod(pod: Obj, now: str) -> None:
    """Recompute phase, Ready and ContainersReady from the container statuses."""
    status = pod["status"]
    status["phase"] = compute_phase(pod)
    unready = sorted(
        str(cs["name"]) for cs in status.get("containerStatuses") or () if not cs.get("ready")
    )
    if unready:
        message = f"containers with unready status: [{' '.join(unready)}]"
        for kind in ("Ready", "ContainersReady"):
            set_pod_condition(pod, kind, "False", now, reason="ContainersNotReady", message=message)
    else:
        for kind in ("Ready", "ContainersReady"):
            set_pod_condition(pod, kind, "True", now)
    touch_managed_fields(pod, manager="kubelet", now=now, subresource="status")


# --- scheduling ----------------------------------------------------------------


def mark_scheduled(pod: Obj, *, now: str) -> None:
    set_pod_condition(pod, "PodScheduled", "True", now)


def mark_unschedulable(pod: Obj, *, now: str, message: str) -> None:
    """PodScheduled False, as the scheduler reports a pod that fits nowhere."""
    pod["status"]["phase"] = "Pending"
    set_pod_condition(pod, "PodScheduled", "False", now, reason="Unschedulable", message=message)


# --- kubelet: startup and containers ----------------------------------------------


def mark_container_creating(pod: Obj, *, host_ip: str, now: str) -> None:
    """The kubelet accepted the pod: sandbox being created, containers waiting."""
    status = pod["status"]
    statuses = []
    for container in pod["spec"]["containers"]:
        statuses.append(
            {
                "image": container["image"],
                "imageID": "",
                "lastState": {},
                "name": container["name"],
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {"waiting": {"reason": "ContainerCreating"}},
                "volumeMounts": _mounts(container),
            }
        )
    statuses.sort(key=lambda s: str(s["name"]))
    status["containerStatuses"] = statuses
    status["hostIP"] = host_ip
    status["hostIPs"] = [{"ip": host_ip}]
    status.setdefault("startTime", now)
    set_pod_condition(pod, "PodReadyToStartContainers", "False", now)
    set_pod_condition(pod, "Initialized", "True", now)
    set_pod_condition(pod, "PodScheduled", "True", now)
    refresh_pod(pod, now)


def mark_sandbox_ready(pod: Obj, *, pod_ip: str, now: str) -> None:
    status = pod["status"]
    status["podIP"] = pod_ip
    status["podIPs"] = [{"ip": pod_ip}]
    set_pod_condition(pod, "PodReadyToStartContainers", "True", now)


def start_container(pod: Obj, name: str, *, now: str, container_id: str, ready: bool) -> None:
    """A new container instance runs; a restart if an earlier instance existed."""
    status = container_status(pod, name)
    state = status.get("state") or {}
    if status.get("containerID"):
        status["restartCount"] = int(status.get("restartCount") or 0) + 1
        if "terminated" in state:
            status["lastState"] = {"terminated": state["terminated"]}
    image = _spec_container(pod, name)["image"]
    status["containerID"] = container_id
    status["image"] = normalized_image(image)
    status["imageID"] = image_id(image)
    status["ready"] = ready
    status["started"] = True
    status["state"] = {"running": {"startedAt": now}}
    refresh_pod(pod, now)


def set_container_ready(pod: Obj, name: str, *, ready: bool, now: str) -> None:
    status = container_status(pod, name)
    status["ready"] = ready and "running" in (status.get("state") or {})
    refresh_pod(pod, now)


def terminate_container(pod: Obj, name: str, *, now: str, reason: str, exit_code: int) -> None:
    """The running container exited (`Error` exit 1, `OOMKilled` exit 137, `Completed` 0)."""
    status = container_status(pod, name)
    ended = _ended(status, now=now, reason=reason, exit_code=exit_code)
    _not_running(pod, status, state=ended, now=now)


def back_off_container(pod: Obj, name: str, *, now: str, delay: int) -> None:
    """CrashLoopBackOff: waiting `delay` seconds before the next restart."""
    status = container_status(pod, name)
    state = status.get("state") or {}
    if "terminated" in state:
        status["lastState"] = {"terminated": state["terminated"]}
    meta = pod["metadata"]
    message = (
        f"back-off {_duration(delay)} restarting failed container={name} "
        f"pod={meta['name']}_{meta.get('namespace', '')}({meta.get('uid', '')})"
    )
    waiting = {"message": message, "reason": "CrashLoopBackOff"}
    _not_running(pod, status, state={"waiting": waiting}, now=now)


def fail_image_pull(pod: Obj, name: str, *, now: str, back_off: bool) -> None:
    """ErrImagePull right after a failed pull, ImagePullBackOff while waiting to retry."""
    status = container_status(pod, name)
    image = _spec_container(pod, name)["image"]
    if back_off:
        waiting = {"message": f'Back-off pulling image "{image}"', "reason": "ImagePullBackOff"}
    else:
        reference = normalized_image(image)
        waiting = {
            "message": (
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{reference}": '
                f'failed to resolve reference "{reference}": {reference}: not found'
            ),
            "reason": "ErrImagePull",
        }
    _not_running(pod, status, state={"waiting": waiting}, now=now)


def fail_container_config(pod: Obj, name: str, *, now: str, message: str) -> None:
    """CreateContainerConfigError: a referenced ConfigMap or Secret is missing."""
    waiting = {"message": message, "reason": "CreateContainerConfigError"}
    _not_running(pod, container_status(pod, name), state={"waiting": waiting}, now=now)


def _ended(cs: Obj, *, now: str, reason: str, exit_code: int) -> Obj:
    """The `terminated` state of a container that ran until `now`."""
    running = (cs.get("state") or {}).get("running") or {}
    terminated: Obj = {"exitCode": exit_code, "finishedAt": now, "reason": reason}
    if cs.get("containerID"):
        terminated = {"containerID": cs["containerID"], **terminated}
    terminated["startedAt"] = running.get("startedAt", now)
    return {"terminated": terminated}


def _not_running(pod: Obj, cs: Obj, *, state: Obj, now: str) -> None:
    """Put a container in a state other than running: never ready nor started there."""
    cs["ready"] = False
    cs["started"] = False
    cs["state"] = state
    refresh_pod(pod, now)


# --- endings -------------------------------------------------------------------


def mark_evicted(pod: Obj, *, now: str, message: str) -> None:
    """The kubelet evicted the pod under node pressure: Failed, reason Evicted."""
    status = pod["status"]
    for cs in status.get("containerStatuses") or ():
        if "running" in (cs.get("state") or {}):
            cs["state"] = _ended(cs, now=now, reason="Error", exit_code=137)
        cs["ready"] = False
        cs["started"] = False
    set_pod_condition(
        pod, "DisruptionTarget", "True", now, reason="TerminationByKubelet", message=message
    )
    refresh_pod(pod, now)
    status["message"] = message
    status["phase"] = "Failed"
    status["reason"] = "Evicted"


def mark_stopped_for_deletion(pod: Obj, *, now: str) -> None:
    """The kubelet stopped every container of a deleted pod and reports it terminal."""
    status = pod["status"]
    failed = False
    for cs in status.get("containerStatuses") or ():
        state = cs.get("state") or {}
        if "running" in state:
            cs["state"] = _ended(cs, now=now, reason="Completed", exit_code=0)
        elif "terminated" in state:
            failed = failed or state["terminated"].get("exitCode") != 0
        else:
            failed = True
        cs["ready"] = False
        cs["started"] = False
    set_pod_condition(pod, "PodReadyToStartContainers", "False", now)
    for kind in ("Ready", "ContainersReady"):
        set_pod_condition(pod, kind, "False", now, reason="PodCompleted")
    status["phase"] = "Failed" if failed else "Succeeded"
    touch_managed_fields(pod, manager="kubelet", now=now, subresource="status")


def mark_not_ready(pod: Obj, *, now: str) -> None:
    """The node lifecycle controller's MarkPodsNotReady: the node stopped reporting."""
    set_pod_condition(pod, "Ready", "False", now)


def mark_unknown(pod: Obj, *, now: str, node: str) -> None:
    """The pod's state cannot be obtained: its node is lost."""
    status = pod["status"]
    set_pod_condition(pod, "Ready", "False", now)
    status["phase"] = "Unknown"
    status["reason"] = "NodeLost"
    status["message"] = (
        f"Node {node} which was running pod {pod['metadata']['name']} is unresponsive"
    )


def _duration(seconds: int) -> str:
    """Go's time.Duration formatting for whole seconds (`10s`, `5m0s`)."""
    if seconds < 60:
        return f"{seconds}s"
    return f"{seconds // 60}m{seconds % 60}s"
