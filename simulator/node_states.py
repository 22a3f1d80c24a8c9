"""Moving a node between the states a real cluster shows, and the taints that follow.

The kubelet reports conditions (Ready, the pressures); when it stops
reporting, the node lifecycle controller sets them Unknown. The same
controller then derives taints from conditions (`node.kubernetes.io/not-ready`,
`.../memory-pressure`, ...) and the scheduler only looks at taints, which is
why a NotReady node stops receiving pods. These helpers reproduce the
messages and reasons a v1.32 kubelet and controller write.
"""

from __future__ import annotations

from .objects import Obj

__all__ = [
    "MANAGED_TAINT_KEYS",
    "PRESSURE_CONDITIONS",
    "desired_taints",
    "heartbeat",
    "mark_node_not_ready",
    "mark_node_ready",
    "mark_node_unknown",
    "set_node_condition",
    "set_pressure",
    "set_unschedulable",
]

_HEALTHY: dict[str, tuple[str, str, str]] = {
    "NetworkUnavailable": ("False", "CalicoIsUp", "Calico is running on this node"),
    "MemoryPressure": (
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
}

PRESSURE_CONDITIONS: dict[str, tuple[str, str, str]] = {
    "MemoryPressure": (
        "True",
        "KubeletHasInsufficientMemory",
        "kubelet has insufficient memory available",
    ),
    "DiskPressure": ("True", "KubeletHasDiskPressure", "kubelet has disk pressure"),
    "PIDPressure": ("True", "KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
    "NetworkUnavailable": ("True", "CalicoIsDown", "Calico is shutting down on this node"),
}

_KUBELET_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")

_CONDITION_TAINTS = {
    "MemoryPressure": "node.kubernetes.io/memory-pressure",
    "DiskPressure": "node.kubernetes.io/disk-pressure",
    "PIDPressure": "node.kubernetes.io/pid-pressure",
    "NetworkUnavailable": "node.kubernetes.io/network-unavailable",
}

MANAGED_TAINT_KEYS = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/unschedulable",
        *_CONDITION_TAINTS.values(),
    }
)


def set_node_condition(
    node: Obj,
    kind: str,
    status: str,
    *,
    reason: str,
    message: str,
    now: str,
    heartbeat: bool = True,
) -> None:
    """Set one node condition; lastTransitionTime moves only when the status does."""
    conditions: list[Obj] = node["status"].setdefault("conditions", [])
    for index, current in enumerate(conditions):
        if current.get("type") == kind:
            transition = (
                current.get("lastTransitionTime") if current.get("status") == status else now
            )
            conditions[index] = {
                "lastHeartbeatTime": now if heartbeat else current.get("lastHeartbeatTime", now),
                "lastTransitionTime": transition or now,
                "message": message,
                "reason": reason,
                "status": status,
                "type": kind,
            }
            return
    conditions.append(
        {
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "message": message,
            "reason": reason,
            "status": status,
            "type": kind,
        }
    )


def heartbeat(node: Obj, *, now: str) -> None:
    """The kubelet's periodic status report: every condition's lastHeartbeatTime moves."""
    for cond in node["status"].get("conditions") or ():
        if cond.get("type") in _KUBELET_CONDITIONS and cond.get("status") != "Unknown":
            cond["lastHeartbeatTime"] = now


def mark_node_ready(node: Obj, *, now: str) -> None:
    """The kubelet reports a healthy node again (every kubelet condition healthy)."""
    for kind in _KUBELET_CONDITIONS:
        status, reason, message = _HEALTHY[kind]
        set_node_condition(node, kind, status, reason=reason, message=message, now=now)


def mark_node_not_ready(node: Obj, *, now: str) -> None:
    """The kubelet runs but reports NotReady (here: its CNI plugin is down)."""
    set_node_condition(
        node,
        "Ready",
        "False",
        reason="KubeletNotReady",
        message=(
            "container runtime network not ready: NetworkReady=false "
            "reason:NetworkPluginNotReady message:Network plugin returns error: "
            "cni plugin not initialized"
        ),
        now=now,
    )


def mark_node_unknown(node: Obj, *, now: str) -> None:
    """The kubelet stopped posting status; the node controller marks it Unknown."""
    for kind in _KUBELET_CONDITIONS:
        set_node_condition(
            node,
            kind,
            "Unknown",
            reason="NodeStatusUnknown",
            message="Kubelet stopped posting node status.",
            now=now,
            heartbeat=False,
        )


def set_pressure(node: Obj, kind: str, *, active: bool, now: str) -> None:
    """Turn a pressure condition (or NetworkUnavailable) on or off."""
    status, reason, message = PRESSURE_CONDITIONS[kind] if active else _HEALTHY[kind]
    set_node_condition(node, kind, status, reason=reason, message=message, now=now)


def set_unschedulable(node: Obj, *, unschedulable: bool) -> None:
    """`kubectl cordon` / `uncordon`."""
    if unschedulable:
        node["spec"]["unschedulable"] = True
    else:
        node["spec"].pop("unschedulable", None)


def desired_taints(node: Obj, *, now: str) -> list[Obj]:
    """The node's taints as the node lifecycle controller keeps them.

    Taints it does not manage (control-plane, user taints) stay as they are;
    managed ones already present keep their `timeAdded`; new ones go last.
    """
    conditions = {c.get("type"): c.get("status") for c in node["status"].get("conditions") or ()}
    wanted: list[tuple[str, str]] = []
    ready = conditions.get("Ready", "Unknown")
    if ready == "False":
        wanted += [("node.kubernetes.io/not-ready", "NoSchedule")]
    elif ready != "True":
        wanted += [("node.kubernetes.io/unreachable", "NoSchedule")]
    for kind, key in _CONDITION_TAINTS.items():
        if conditions.get(kind) == "True":
            wanted.append((key, "NoSchedule"))
    if node["spec"].get("unschedulable"):
        wanted.append(("node.kubernetes.io/unschedulable", "NoSchedule"))
    if ready == "False":
        wanted.append(("node.kubernetes.io/not-ready", "NoExecute"))
    elif ready != "True":
        wanted.append(("node.kubernetes.io/unreachable", "NoExecute"))
    result: list[Obj] = []
    present: set[tuple[str, str]] = set()
    for taint in node["spec"].get("taints") or ():
        ident = (str(taint.get("key")), str(taint.get("effect")))
        if ident[0] not in MANAGED_TAINT_KEYS or ident in wanted:
            result.append(taint)
            present.add(ident)
    for key, effect in wanted:
        if (key, effect) not in present:
            added: Obj = {"effect": effect, "key": key}
            if effect == "NoExecute":
                added["timeAdded"] = now
            result.append(added)
    return result
