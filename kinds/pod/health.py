"""A pod's health analyzers: one function per finding, thresholds in `HealthSettings`.

Each looks at one pod row; the store runs them for every pod it writes and
keeps the candidates (`store.health`). `plainly_healthy_row` lets the
majority skip them. `pod_restarts_rising` is the exception: it reads restart
transitions from history, so the store's reader calls it.
"""

from __future__ import annotations

from typing import Any

from kinds.common import Candidate, Finding, HealthSettings, Severity, timestamp
from kinds.names import Kind
from kinds.pod.row import PodRow
from kinds.pod.status import last_terminated_severity, waiting_severity

__all__ = [
    "ANALYZERS",
    "plainly_healthy_row",
    "pod_crash_loop",
    "pod_create_container_error",
    "pod_failed",
    "pod_image_pull",
    "pod_not_ready",
    "pod_oom_killed",
    "pod_pending_too_long",
    "pod_restarts_rising",
    "pod_stuck_terminating",
    "pod_unknown_phase",
]


def _pod_finding(
    row: PodRow, check: str, severity: Severity, reason: str, message: str, **kw: Any
) -> Finding:
    return Finding(
        check=check,
        severity=severity,
        kind=Kind.POD,
        namespace=row.namespace,
        name=row.name,
        uid=row.uid,
        reason=reason,
        message=message,
        node=row.node,
        deployment=row.deployment,
        owner=_owner(row),
        **kw,
    )


def _owner(row: PodRow) -> str | None:
    """The pod's controller unless it is a ReplicaSet (then `deployment` says the workload)."""
    if row.owner_kind and row.owner_name and row.owner_kind != "ReplicaSet":
        return f"{row.owner_kind}/{row.owner_name}"
    return None


def _waiting(row: PodRow, reasons: frozenset[str]) -> list[Any]:
    return [c for c in row.containers if c.waiting_reason in reasons]


def _container_problem(row: PodRow) -> bool:
    """A container is stuck in a waiting reason other analyzers report."""
    return any(waiting_severity(c.waiting_reason) is not Severity.INFO for c in row.containers)


_CRASH = frozenset({"CrashLoopBackOff"})


_PULL = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"})


_CREATE = frozenset({"CreateContainerConfigError", "CreateContainerError"})


def _waiting_candidate(
    row: PodRow, reasons: frozenset[str], check: str, what: str
) -> Candidate | None:
    hits = _waiting(row, reasons)
    if not hits:
        return None
    worst = max(hits, key=lambda c: waiting_severity(c.waiting_reason).rank)
    names = ", ".join(c.name for c in hits)
    detail = f": {worst.waiting_message}" if worst.waiting_message else ""
    evidence = {
        "containers": [
            {
                "name": c.name,
                "image": c.image,
                "waiting_reason": c.waiting_reason,
                "waiting_message": c.waiting_message,
                "restarts": c.restarts,
                "last_terminated_reason": c.last_terminated_reason,
                "last_terminated_exit_code": c.last_terminated_exit_code,
            }
            for c in hits
        ],
        "restarts": row.restarts,
    }
    finding = _pod_finding(
        row,
        check,
        waiting_severity(worst.waiting_reason),
        worst.waiting_reason or "",
        f"{what} {names}: {worst.waiting_reason}{detail}",
        evidence=evidence,
    )
    return Candidate(finding, field=f"container/{worst.name}/waiting_reason")


def pod_crash_loop(row: PodRow, settings: HealthSettings) -> Candidate | None:
    """A container keeps crashing and the kubelet backs off restarting it."""
    return _waiting_candidate(row, _CRASH, "pod.crash_loop", "crash looping container")


def pod_image_pull(row: PodRow, settings: HealthSettings) -> Candidate | None:
    """An image cannot be pulled (ImagePullBackOff, ErrImagePull) or named (InvalidImageName)."""
    return _waiting_candidate(row, _PULL, "pod.image_pull", "image cannot be pulled for container")


def pod_create_container_error(row: PodRow, settings: HealthSettings) -> Candidate | None:
    """The container cannot be created: a missing ConfigMap/Secret key, a bad mount..."""
    return _waiting_candidate(row, _CREATE, "pod.create_container_error", "cannot create container")


def pod_oom_killed(row: PodRow, settings: HealthSettings) -> Candidate | None:
    """A container's last termination was an OOM kill (reported for `oom_window_s`)."""
    hits = [c for c in row.containers if c.last_terminated_reason == "OOMKilled"]
    if not hits:
        return None
    at = min((t for c in hits if (t := timestamp(c.last_terminated_at)) is not None), default=None)
    limits = {c.name: c.memory_limit_bytes for c in hits}
    finding = _pod_finding(
        row,
        "pod.oom_killed",
        last_terminated_severity("OOMKilled"),
        "OOMKilled",
        f"container {', '.join(c.name for c in hits)} was OOM-killed"
        + (f" (memory limit {limits[hits[0].name]} bytes)" if limits[hits[0].name] else ""),
        since=at,
        evidence={
            "containers": [
                {
                    "name": c.name,
                    "exit_code": c.last_terminated_exit_code,
                    "finished_at": c.last_terminated_at,
                    "memory_limit_bytes": c.memory_limit_bytes,
                    "restarts": c.restarts,
                }
                for c in hits
            ]
        },
    )
    return Candidate(
        finding,
        max_age_s=settings.oom_window_s,
        field=f"container/{hits[0].name}/last_terminated_reason",
        has_own_since=at is not None,
    )


def pod_pending_too_long(row: PodRow, settings: HealthSettings) -> Candidate | None:
    """Pending past `pending_after_s`: unschedulable, or stuck before its containers start."""
    if row.phase != "Pending" or row.deletion_at is not None or _container_problem(row):
        return None
    created = timestamp(row.created_at)
    scheduled = row.conditions.get("PodScheduled")
    if row.unschedulable:
        reason = "Unschedulable"
        message = (scheduled.message if scheduled else None) or "no node can run the pod"
    else:
        reason = "Pending"
        waiting = [c.waiting_reason for c in row.containers if c.waiting_reason]
        message = "pod is pending" + (f" ({', '.join(waiting)})" if waiting else "")
    finding = _pod_finding(
        row,
        "pod.pending",
        Severity.WARNING,
        reason,
        message,
        since=created,
        evidence={
            "node": row.node,
            "unschedulable": row.unschedulable,
            "created_at": row.created_at,
        },
    )
    return Candidate(
        finding,
        min_age_s=settings.pending_after_s,
        field="phase",
        has_own_since=created is not None,
    )


def pod_not_ready(row: PodRow, settings: HealthSettings) -> Candidate | None:
    """Running but not Ready past `not_ready_after_s` (failing readiness probe)."""
    if (
        row.phase != "Running"
        or row.ready
        or row.deletion_at is not None
        or _container_problem(row)
    ):
        return None
    cond = row.conditions.get("Ready")
    since = timestamp(cond.last_transition) if cond else None
    not_ready = [c.name for c in row.containers if not c.ready and not c.init]
    finding = _pod_finding(
        row,
        "pod.not_ready",
        Severity.WARNING,
        (cond.reason if cond and cond.reason else "NotReady"),
        f"running but not ready: containers {', '.join(not_ready) or '?'} not ready"
        + (f" ({cond.message})" if cond and cond.message else ""),
        since=since,
        evidence={"containers_not_ready": not_ready, "node": row.node},
    )
    return Candidate(
        finding,
        min_age_s=settings.not_ready_after_s,
        field="ready",
        has_own_since=since is not None,
    )


def pod_failed(row: PodRow, settings: HealthSettings) -> Candidate | None:
    """Phase Failed, including evictions (reason Evicted)."""
    if row.phase != "Failed":
        return None
    reason = row.reason or "Failed"
    finding = _pod_finding(
        row,
        "pod.failed",
        Severity.WARNING,
        reason,
        row.message or f"pod failed ({reason})",
        evidence={"reason": row.reason, "node": row.node},
    )
    return Candidate(finding, field="phase")


def pod_unknown_phase(row: PodRow, settings: HealthSettings) -> Candidate | None:
    """Phase Unknown: the node stopped reporting, the pod's state is lost."""
    if row.phase != "Unknown":
        return None
    finding = _pod_finding(
        row,
        "pod.unknown",
        Severity.CRITICAL,
        row.reason or "NodeLost",
        row.message or f"pod state unknown (node {row.node} not reporting)",
        evidence={"node": row.node},
    )
    return Candidate(finding, field="phase")


def pod_stuck_terminating(row: PodRow, settings: HealthSettings) -> Candidate | None:
    """Deletion started (past its grace period) more than `terminating_after_s` ago."""
    if row.deletion_at is None:
        return None
    since = timestamp(row.deletion_at)
    finding = _pod_finding(
        row,
        "pod.stuck_terminating",
        Severity.WARNING,
        "Terminating",
        f"pod is terminating since {row.deletion_at}",
        since=since,
        evidence={"deletion_at": row.deletion_at, "node": row.node, "phase": row.phase},
    )
    return Candidate(
        finding,
        min_age_s=settings.terminating_after_s,
        field="deletion_started",
        has_own_since=since is not None,
    )


def pod_restarts_rising(
    *,
    namespace: str,
    name: str,
    uid: str,
    restarts_in_window: int,
    first_at: float,
    last_count: int,
    settings: HealthSettings,
    node: str | None = None,
    deployment: str | None = None,
) -> Finding | None:
    """At least `restarts_rising_min` restarts within `restarts_window_s`, from history."""
    if restarts_in_window < settings.restarts_rising_min:
        return None
    minutes = settings.restarts_window_s / 60
    return Finding(
        check="pod.restarts_rising",
        severity=Severity.WARNING,
        kind=Kind.POD,
        namespace=namespace,
        name=name,
        uid=uid,
        reason="RestartsRising",
        message=f"{restarts_in_window} restarts in the last {minutes:g} minutes (now {last_count})",
        since=first_at,
        node=node,
        deployment=deployment,
        evidence={
            "restarts_in_window": restarts_in_window,
            "window_s": settings.restarts_window_s,
            "restart_count": last_count,
        },
    )


def plainly_healthy_row(row: PodRow) -> bool:
    """Running, ready, nothing waiting, no recent OOM: the majority, decided in a few steps."""
    if row.deletion_at is not None:
        return False
    phase = row.phase
    if phase == "Succeeded":
        return True
    if phase != "Running" or not row.ready:
        return False
    for c in row.containers:
        if c.waiting_reason is not None or c.last_terminated_reason == "OOMKilled":
            return False
    return True


ANALYZERS = (
    pod_crash_loop,
    pod_image_pull,
    pod_create_container_error,
    pod_oom_killed,
    pod_pending_too_long,
    pod_not_ready,
    pod_failed,
    pod_unknown_phase,
    pod_stuck_terminating,
)
