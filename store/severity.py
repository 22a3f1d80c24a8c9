"""How much each tracked status value matters: the one severity table.

Transitions (history, callbacks) and health findings both take their
severity from here, so a CrashLoopBackOff is the same "critical" in a webhook
payload, in `recent_changes` and in the health report.

The choices, and why:

| what | value | severity | why |
|---|---|---|---|
| container waiting reason | CrashLoopBackOff, CreateContainerConfigError, InvalidImageName, RunContainerError | critical | the container cannot run and will not recover without a change |
| container waiting reason | ImagePullBackOff, ErrImagePull, CreateContainerError, other unknown reasons | warning | often transient (registry hiccup, slow volume) but blocks the pod |
| container waiting reason | ContainerCreating, PodInitializing, none | info | normal start-up |
| last terminated reason | OOMKilled | critical | the workload exceeds its memory limit and is being killed |
| last terminated reason | Error, ContainerCannotRun, StartError, DeadlineExceeded, other | warning | the process failed; restarts will tell whether it persists |
| last terminated reason | Completed, none | info | a clean exit |
| pod phase | Unknown | critical | the node stopped reporting: the pod's fate is unknown |
| pod phase | Failed | warning | includes evictions; the controller usually replaces the pod |
| pod phase | Pending, Running, Succeeded | info | life cycle |
| pod ready | False while Running and not terminating | warning | serving capacity is reduced |
| pod restarts | any increase | warning | each one is a crash |
| deployment Available | False | critical | fewer than the minimum replicas serve |
| deployment Progressing | False (ProgressDeadlineExceeded) | warning | the rollout is stuck, the old replicas still serve |
| deployment ReplicaFailure | True | critical | pods cannot even be created (quota, admission) |
| deployment ready/available replicas | 0 of >0 desired | critical | nothing serves |
| deployment ready/available replicas | fewer than desired | warning | degraded |
| node Ready | False, Unknown | critical | its pods are lost or about to be evicted |
| node pressure (Memory/Disk/PID) | True | warning | the kubelet starts evicting |
| node NetworkUnavailable | True | critical | pods on it cannot communicate |
| node unschedulable (cordon) | true | warning | capacity removed; often forgotten after maintenance |
| deletion of a node | | warning | capacity removed |
| anything else, deletions of pods and deployments | | info | |
"""

from __future__ import annotations

from typing import Final

from store.model import Kind, Severity

__all__ = [
    "LAST_TERMINATED_SEVERITY",
    "WAITING_SEVERITY",
    "deletion_severity",
    "last_terminated_severity",
    "waiting_severity",
]

INFO, WARNING, CRITICAL = Severity.INFO, Severity.WARNING, Severity.CRITICAL

WAITING_SEVERITY: Final[dict[str | None, Severity]] = {
    None: INFO,
    "ContainerCreating": INFO,
    "PodInitializing": INFO,
    "CrashLoopBackOff": CRITICAL,
    "CreateContainerConfigError": CRITICAL,
    "InvalidImageName": CRITICAL,
    "RunContainerError": CRITICAL,
    "ImagePullBackOff": WARNING,
    "ErrImagePull": WARNING,
    "CreateContainerError": WARNING,
}

LAST_TERMINATED_SEVERITY: Final[dict[str | None, Severity]] = {
    None: INFO,
    "Completed": INFO,
    "OOMKilled": CRITICAL,
    "Error": WARNING,
}

POD_PHASE_SEVERITY: Final[dict[str, Severity]] = {
    "Pending": INFO,
    "Running": INFO,
    "Succeeded": INFO,
    "Failed": WARNING,
    "Unknown": CRITICAL,
}

NODE_CONDITION_BAD: Final[dict[str, tuple[frozenset[str], Severity]]] = {
    "Ready": (frozenset({"False", "Unknown"}), CRITICAL),
    "MemoryPressure": (frozenset({"True"}), WARNING),
    "DiskPressure": (frozenset({"True"}), WARNING),
    "PIDPressure": (frozenset({"True"}), WARNING),
    "NetworkUnavailable": (frozenset({"True"}), CRITICAL),
}

DEPLOYMENT_CONDITION_BAD: Final[dict[str, tuple[frozenset[str], Severity]]] = {
    "Available": (frozenset({"False"}), CRITICAL),
    "Progressing": (frozenset({"False"}), WARNING),
    "ReplicaFailure": (frozenset({"True"}), CRITICAL),
}


def waiting_severity(reason: str | None) -> Severity:
    """A container's waiting reason; reasons not in the table are warnings."""
    return WAITING_SEVERITY.get(reason, WARNING)


def last_terminated_severity(reason: str | None) -> Severity:
    """A container's last termination reason; reasons not in the table are warnings."""
    return LAST_TERMINATED_SEVERITY.get(reason, WARNING)


def phase_severity(phase: str) -> Severity:
    return POD_PHASE_SEVERITY.get(phase, WARNING)


def condition_severity(kind: Kind, condition: str, status: str | None) -> Severity:
    """Severity of a node or deployment condition's status."""
    table = NODE_CONDITION_BAD if kind is Kind.NODE else DEPLOYMENT_CONDITION_BAD
    bad = table.get(condition)
    if bad is None or status is None:
        return INFO
    return bad[1] if status in bad[0] else INFO


def replicas_severity(value: str | None) -> Severity:
    """`"ready/desired"`: none of several is critical, some missing a warning."""
    if value is None:
        return INFO
    have, _, want = value.partition("/")
    h, w = int(have), int(want)
    if w > 0 and h == 0:
        return CRITICAL
    return WARNING if h < w else INFO


def deletion_severity(kind: Kind) -> Severity:
    return WARNING if kind is Kind.NODE else INFO
