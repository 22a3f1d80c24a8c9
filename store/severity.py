"""How much each tracked status value matters: the one severity table.

Transitions (history, callbacks) and health findings both take their
severity from here, so a CrashLoopBackOff is the same "critical" in a webhook
payload, in `recent_changes` and in the health report.

The choices, and why:

- container waiting reason: CrashLoopBackOff, CreateContainerConfigError,
  InvalidImageName, RunContainerError are critical (the container cannot run
  and will not recover without a change); ImagePullBackOff, ErrImagePull,
  CreateContainerError and reasons not listed are warnings (often transient:
  a registry hiccup, a slow volume); ContainerCreating, PodInitializing and
  none are info (start-up).
- last terminated reason: OOMKilled is critical (the workload exceeds its
  memory limit and is killed); Error and reasons not listed are warnings (a
  failed process: restarts will tell whether it persists); Completed and none
  are info.
- pod phase: Unknown is critical (the node stopped reporting); Failed is a
  warning (evictions included; the controller usually replaces the pod);
  Pending, Running and Succeeded are info.
- pod ready: False while Running and not terminating is a warning (serving
  capacity is reduced); otherwise info. Each restart count increase: warning.
- deployment: Available=False and ReplicaFailure=True are critical (fewer
  than the minimum replicas serve; pods cannot even be created);
  Progressing=False (ProgressDeadlineExceeded) is a warning (the rollout is
  stuck, the old replicas still serve). Ready/available replicas: 0 of more
  than 0 desired is critical, fewer than desired a warning.
- node: Ready False or Unknown is critical (its pods are lost or about to be
  evicted); Memory/Disk/PID pressure is a warning (the kubelet starts
  evicting); NetworkUnavailable is critical; a cordon (unschedulable) is a
  warning (capacity removed, often forgotten after maintenance); a node
  deletion is a warning.
- everything else, and deletions of pods and deployments, is info.
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
