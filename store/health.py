"""Health analyzers: one function per finding, thresholds in `HealthSettings`.

Two kinds of analyzers, because of where their input lives:

- *Row analyzers* (`pod_crash_loop`, `node_not_ready`, ...) look at one row.
  The writer runs them for each row it writes and keeps the resulting
  candidates in memory (`store.view.View`), flagging the row's `problem`
  column. A health report therefore never scans the tables: it reads the few
  candidates, which is why its cost follows the number of problems, not the
  number of pods.
- *Aggregate analyzers* need more than one row: `pod_restarts_rising` reads
  restart transitions from history, `node_overcommitted` the per-node sums of
  pod requests the writer maintains.

A candidate becomes a finding when it is old enough: "Pending" is normal for
a few seconds, so `pod_pending_too_long` carries `min_age_s`; until then the
finding is *pending*, and every answer shows it so (the rule, and what counts
as current, pending or past, is `store.findings`). `since` is the object's own timestamp when the
analyzer has an authoritative one (a condition's lastTransitionTime, the
deletionTimestamp, the creationTimestamp of a Pending pod, the finish time of
an OOM kill); otherwise it is the time the store recorded the transition into
this state in history.

Ranking: severity (critical first), then the oldest `since`, then kind,
namespace and name, so the report is stable between calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from store.findings import (
    Candidate,
    Finding,
    FindingSet,
    ReportItem,
    group_findings,
    is_active,
    rank_key,
)
from store.model import DeploymentRow, Kind, NodeRow, PodRow, Row, Severity
from store.settings import HealthSettings
from store.severity import last_terminated_severity, waiting_severity
from store.transitions import deployment_rollout

__all__ = [
    "ANALYZERS",
    "Candidate",
    "Finding",
    "HealthReport",
    "analyze_row",
    "build_report",
    "deployment_paused",
    "deployment_progress_deadline",
    "deployment_replica_failure",
    "deployment_rollout_stuck",
    "deployment_unavailable",
    "deployment_zero_available",
    "is_active",
    "node_cordoned",
    "node_network_unavailable",
    "node_not_ready",
    "node_overcommitted",
    "node_pressure",
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
    "rank_key",
    "requests_exceed",
]


class HealthReport(msgspec.Struct, kw_only=True):
    """Current findings ranked, with exact counts even when the lists are cut at `limit`.

    `findings` is the flat ranked list, `items` the same findings one per
    cause (`store.findings.group_findings`) when grouping was asked for, or
    one per finding otherwise. Pending and past findings are counted apart
    (see `store.findings`); their lists hold the first `limit` of each.
    `pending_total` counts the objects with a pending finding and no current
    one (an object broken now is accounted for once, among the current).
    """

    generated_at: float
    total: int
    objects: int = 0
    counts_by_severity: dict[str, int]
    counts_by_kind: dict[str, int]
    counts_by_check: dict[str, int]
    findings: list[Finding]
    truncated: bool
    items: list[ReportItem] = []
    items_total: int = 0
    pending_total: int = 0
    pending_first_counts_at: float | None = None  # when the first pending one will count
    pending_by_check: dict[str, int] = {}
    pending: list[ReportItem] = []
    past_total: int = 0
    past_by_check: dict[str, int] = {}
    past: list[Finding] = []


def _ts(value: str | None) -> float | None:
    """RFC 3339 as the API writes it -> unix seconds; None when absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


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
        **kw,
    )


def _waiting(row: PodRow, reasons: frozenset[str]) -> list[Any]:
    return [c for c in row.containers if c.waiting_reason in reasons]


def _container_problem(row: PodRow) -> bool:
    """A container is stuck in a waiting reason other analyzers report."""
    return any(waiting_severity(c.waiting_reason) is not Severity.INFO for c in row.containers)


# --- pods -------------------------------------------------------------------------------------

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
    at = min((t for c in hits if (t := _ts(c.last_terminated_at)) is not None), default=None)
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
    created = _ts(row.created_at)
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
    since = _ts(cond.last_transition) if cond else None
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
    since = _ts(row.deletion_at)
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


# --- deployments ------------------------------------------------------------------------------


def _deployment_finding(
    row: DeploymentRow, check: str, severity: Severity, reason: str, message: str, **kw: Any
) -> Finding:
    return Finding(
        check=check,
        severity=severity,
        kind=Kind.DEPLOYMENT,
        namespace=row.namespace,
        name=row.name,
        uid=row.uid,
        reason=reason,
        message=message,
        **kw,
    )


def _replicas(row: DeploymentRow) -> dict[str, int]:
    return {
        "desired": row.replicas,
        "ready": row.ready_replicas,
        "available": row.available_replicas,
        "updated": row.updated_replicas,
        "unavailable": row.unavailable_replicas,
    }


def _condition_since(row: DeploymentRow | NodeRow, name: str) -> float | None:
    cond = row.conditions.get(name)
    return _ts(cond.last_transition) if cond else None


def deployment_unavailable(row: DeploymentRow, settings: HealthSettings) -> Candidate | None:
    """Some (not all) desired replicas unavailable past `deployment_unavailable_after_s`."""
    missing = max(row.unavailable_replicas, row.replicas - row.available_replicas)
    if row.replicas <= 0 or missing <= 0 or row.available_replicas == 0:
        return None
    since = (
        _condition_since(row, "Available")
        if row.conditions.get("Available") and row.conditions["Available"].status == "False"
        else None
    )
    finding = _deployment_finding(
        row,
        "deployment.unavailable",
        Severity.WARNING,
        "MinimumReplicasUnavailable" if since else "ReplicasUnavailable",
        f"{missing} of {row.replicas} replicas unavailable",
        since=since,
        evidence=_replicas(row),
    )
    return Candidate(
        finding,
        min_age_s=settings.deployment_unavailable_after_s,
        field="replicas/available",
        has_own_since=since is not None,
    )


def deployment_zero_available(row: DeploymentRow, settings: HealthSettings) -> Candidate | None:
    """Replicas are wanted and none is available: the workload is down."""
    if row.replicas <= 0 or row.available_replicas > 0:
        return None
    finding = _deployment_finding(
        row,
        "deployment.zero_available",
        Severity.CRITICAL,
        "NoReplicasAvailable",
        f"0 of {row.replicas} replicas available",
        evidence=_replicas(row),
    )
    return Candidate(finding, min_age_s=settings.zero_available_after_s, field="replicas/available")


def deployment_progress_deadline(row: DeploymentRow, settings: HealthSettings) -> Candidate | None:
    """Progressing=False: the rollout exceeded progressDeadlineSeconds."""
    cond = row.conditions.get("Progressing")
    if cond is None or cond.status != "False":
        return None
    since = _ts(cond.last_transition)
    finding = _deployment_finding(
        row,
        "deployment.progress_deadline",
        Severity.WARNING,
        cond.reason or "ProgressDeadlineExceeded",
        cond.message or "rollout exceeded its progress deadline",
        since=since,
        evidence=_replicas(row),
    )
    return Candidate(finding, field="condition/Progressing", has_own_since=since is not None)


def deployment_replica_failure(row: DeploymentRow, settings: HealthSettings) -> Candidate | None:
    """ReplicaFailure=True: the ReplicaSet cannot create pods (quota, admission...)."""
    cond = row.conditions.get("ReplicaFailure")
    if cond is None or cond.status != "True":
        return None
    since = _ts(cond.last_transition)
    finding = _deployment_finding(
        row,
        "deployment.replica_failure",
        Severity.CRITICAL,
        cond.reason or "ReplicaFailure",
        cond.message or "replicas cannot be created",
        since=since,
        evidence=_replicas(row),
    )
    return Candidate(finding, field="condition/ReplicaFailure", has_own_since=since is not None)


def deployment_rollout_stuck(row: DeploymentRow, settings: HealthSettings) -> Candidate | None:
    """A rollout unfinished after `rollout_stuck_after_s` (see `rollout_progressing`)."""
    if deployment_rollout(row) != "progressing":
        return None
    behind = row.observed_generation < row.generation
    message = (
        f"generation {row.generation} not yet observed (observed {row.observed_generation})"
        if behind
        else f"{row.updated_replicas} of {row.replicas} replicas updated"
    )
    finding = _deployment_finding(
        row,
        "deployment.rollout_stuck",
        Severity.WARNING,
        "RolloutStuck",
        message,
        evidence={
            **_replicas(row),
            "generation": row.generation,
            "observed_generation": row.observed_generation,
        },
    )
    return Candidate(finding, min_age_s=settings.rollout_stuck_after_s, field="rollout")


def deployment_paused(row: DeploymentRow, settings: HealthSettings) -> Candidate | None:
    """A paused rollout: intentional, but changes to the template are not applied."""
    if not row.paused:
        return None
    finding = _deployment_finding(
        row,
        "deployment.paused",
        Severity.INFO,
        "DeploymentPaused",
        "rollout is paused; template changes are not rolled out",
        evidence={"rollout": deployment_rollout(row)},
    )
    return Candidate(finding, field="rollout")


# --- nodes ------------------------------------------------------------------------------------


def _node_finding(
    row: NodeRow, check: str, severity: Severity, reason: str, message: str, **kw: Any
) -> Finding:
    return Finding(
        check=check,
        severity=severity,
        kind=Kind.NODE,
        namespace="",
        name=row.name,
        uid=row.uid,
        reason=reason,
        message=message,
        **kw,
    )


def node_not_ready(row: NodeRow, settings: HealthSettings) -> Candidate | None:
    """Ready is False or Unknown (kubelet down, node unreachable)."""
    cond = row.conditions.get("Ready")
    status = cond.status if cond else row.ready
    if status == "True":
        return None
    since = _ts(cond.last_transition) if cond else None
    reason = (cond.reason if cond else None) or (
        "NodeStatusUnknown" if status == "Unknown" else "KubeletNotReady"
    )
    finding = _node_finding(
        row,
        "node.not_ready",
        Severity.CRITICAL,
        reason,
        (cond.message if cond else None) or f"node Ready={status}",
        since=since,
        evidence={"ready": status, "kubelet_version": row.kubelet_version},
    )
    return Candidate(
        finding,
        min_age_s=settings.node_not_ready_after_s,
        field="condition/Ready",
        has_own_since=since is not None,
    )


_PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure")


def node_pressure(row: NodeRow, settings: HealthSettings) -> Candidate | None:
    """Memory, disk or PID pressure: the kubelet evicts pods to recover."""
    hits = [
        p for p in _PRESSURES if (c := row.conditions.get(p)) is not None and c.status == "True"
    ]
    if not hits:
        return None
    times = [t for p in hits if (t := _condition_since(row, p)) is not None]
    since = min(times) if times else None
    finding = _node_finding(
        row,
        "node.pressure",
        Severity.WARNING,
        ",".join(hits),
        "; ".join(row.conditions[p].message or p for p in hits),
        since=since,
        evidence={"conditions": hits},
    )
    return Candidate(finding, field=f"condition/{hits[0]}", has_own_since=since is not None)


def node_network_unavailable(row: NodeRow, settings: HealthSettings) -> Candidate | None:
    """NetworkUnavailable=True: the node's pod network is not configured."""
    cond = row.conditions.get("NetworkUnavailable")
    if cond is None or cond.status != "True":
        return None
    since = _ts(cond.last_transition)
    finding = _node_finding(
        row,
        "node.network_unavailable",
        Severity.CRITICAL,
        cond.reason or "NetworkUnavailable",
        cond.message or "node network is unavailable",
        since=since,
    )
    return Candidate(finding, field="condition/NetworkUnavailable", has_own_since=since is not None)


def node_cordoned(row: NodeRow, settings: HealthSettings) -> Candidate | None:
    """spec.unschedulable: no new pods land here (maintenance, or forgotten)."""
    if not row.unschedulable:
        return None
    finding = _node_finding(
        row,
        "node.cordoned",
        Severity.WARNING,
        "Cordoned",
        "node is cordoned (SchedulingDisabled)",
        evidence={"taints": [t.key for t in row.taints]},
    )
    return Candidate(finding, field="unschedulable")


def requests_exceed(
    cpu_m: int, memory_bytes: int, alloc_cpu_m: int, alloc_memory_bytes: int
) -> bool:
    """Pod requests above what the node can allocate (a zero allocatable means unknown)."""
    return (alloc_cpu_m > 0 and cpu_m > alloc_cpu_m) or (
        alloc_memory_bytes > 0 and memory_bytes > alloc_memory_bytes
    )


def node_overcommitted(
    *,
    name: str,
    uid: str,
    requested_cpu_m: int,
    requested_memory_bytes: int,
    allocatable_cpu_m: int,
    allocatable_memory_bytes: int,
    since: float | None,
) -> Finding | None:
    """The pods bound to the node request more CPU or memory than it can allocate."""
    over = []
    if allocatable_cpu_m > 0 and requested_cpu_m > allocatable_cpu_m:
        over.append(f"cpu {requested_cpu_m}m > {allocatable_cpu_m}m")
    if allocatable_memory_bytes > 0 and requested_memory_bytes > allocatable_memory_bytes:
        over.append(f"memory {requested_memory_bytes} > {allocatable_memory_bytes} bytes")
    if not over:
        return None
    return Finding(
        check="node.overcommitted",
        severity=Severity.WARNING,
        kind=Kind.NODE,
        namespace="",
        name=name,
        uid=uid,
        reason="RequestsExceedAllocatable",
        message="pod requests exceed allocatable: " + "; ".join(over),
        since=since,
        evidence={
            "requested_cpu_m": requested_cpu_m,
            "allocatable_cpu_m": allocatable_cpu_m,
            "requested_memory_bytes": requested_memory_bytes,
            "allocatable_memory_bytes": allocatable_memory_bytes,
        },
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


RowAnalyzer = Callable[[Any, HealthSettings], Candidate | None]

ANALYZERS: dict[Kind, tuple[RowAnalyzer, ...]] = {
    Kind.POD: (
        pod_crash_loop,
        pod_image_pull,
        pod_create_container_error,
        pod_oom_killed,
        pod_pending_too_long,
        pod_not_ready,
        pod_failed,
        pod_unknown_phase,
        pod_stuck_terminating,
    ),
    Kind.DEPLOYMENT: (
        deployment_unavailable,
        deployment_zero_available,
        deployment_progress_deadline,
        deployment_replica_failure,
        deployment_rollout_stuck,
        deployment_paused,
    ),
    Kind.NODE: (
        node_not_ready,
        node_pressure,
        node_network_unavailable,
        node_cordoned,
    ),
}


def _pod_plainly_healthy(row: PodRow) -> bool:
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


def analyze_row(kind: Kind, row: Row, settings: HealthSettings) -> tuple[Candidate, ...]:
    """All row analyzers of the kind, with a shortcut for the healthy majority of pods."""
    if kind is Kind.POD:
        assert isinstance(row, PodRow)
        if _pod_plainly_healthy(row):
            return ()
    out = []
    for analyzer in ANALYZERS[kind]:
        candidate = analyzer(row, settings)
        if candidate is not None:
            out.append(candidate)
    return tuple(out)


def _in_scope(
    f: Finding,
    *,
    min_severity: Severity,
    namespace: str | None,
    kinds: Sequence[Kind] | None,
    node: str | None,
) -> bool:
    return (
        f.severity.rank >= min_severity.rank
        and (namespace is None or f.namespace == namespace)
        and (kinds is None or f.kind in kinds)
        and (node is None or f.node == node or (f.kind is Kind.NODE and f.name == node))
    )


def _flat(findings: list[Finding]) -> list[ReportItem]:
    return [ReportItem(finding=f) for f in findings]


def build_report(
    findings: Iterable[Finding] | FindingSet,
    *,
    now: float,
    limit: int,
    min_severity: Severity = Severity.INFO,
    namespace: str | None = None,
    kinds: Sequence[Kind] | None = None,
    node: str | None = None,
    group: bool = False,
) -> HealthReport:
    """Filter, count, rank (and group, if asked) findings already sorted by `classify`.

    A plain iterable is taken as current findings.
    """
    found = findings if isinstance(findings, FindingSet) else FindingSet(list(findings), [], [])

    def scoped(fs: list[Finding]) -> list[Finding]:
        out = [
            f
            for f in fs
            if _in_scope(f, min_severity=min_severity, namespace=namespace, kinds=kinds, node=node)
        ]
        out.sort(key=rank_key)
        return out

    selected, pending, past = scoped(found.current), scoped(found.pending), scoped(found.past)
    # Pending: objects with nothing current (an object broken now is counted once).
    now_broken = {(f.kind, f.namespace, f.name) for f in selected}
    pending = [f for f in pending if (f.kind, f.namespace, f.name) not in now_broken]
    grouped, pending_items = group_findings(selected, pending)
    items = grouped if group else _flat(selected)
    by_severity = Counter(f.severity.value for f in selected)
    return HealthReport(
        generated_at=now,
        total=len(selected),
        objects=len({(f.kind, f.namespace, f.name) for f in selected}),
        counts_by_severity={s.value: by_severity.get(s.value, 0) for s in reversed(Severity)},
        counts_by_kind=dict(Counter(f.kind.value for f in selected)),
        counts_by_check=dict(Counter(f.check for f in selected)),
        findings=selected[:limit],
        truncated=len(selected) > limit,
        items=items[:limit],
        items_total=len(items),
        pending_total=len({(f.kind, f.namespace, f.name) for f in pending}),
        pending_first_counts_at=min(
            (f.counts_at for f in pending if f.counts_at is not None), default=None
        ),
        pending_by_check=dict(Counter(f.check for f in pending)),
        pending=pending_items[:limit],
        past_total=len({(f.kind, f.namespace, f.name) for f in past}),
        past_by_check=dict(Counter(f.check for f in past)),
        past=past[:limit],
    )
