"""Rows and findings as answer items: the compact shapes lists and reports are made of.

Pure functions of one store row (or finding, or transition) and the time, so
tools, resources and prompts render an object the same way everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec

from mcpserver.surface.answers import (
    CauseItem,
    ChangeItem,
    ConditionItem,
    DeploymentItem,
    FindingGroupItem,
    FindingItem,
    ObjectChanges,
    PodItem,
)
from mcpserver.surface.freshness import iso
from store import Condition, DeploymentRow, Finding, NodeRow, PodRow, Transition
from store.findings import ReportItem
from store.reader import ObjectHistory
from store.transitions import deployment_rollout

__all__ = [
    "age",
    "cause_item",
    "change_item",
    "conditions",
    "deployment_item",
    "finding_item",
    "node_problems",
    "object_changes",
    "pod_item",
    "pod_reason",
    "report_item",
    "rollout_in_progress",
    "row_fields",
]

# Waiting reasons that are part of a normal start, not a problem to point at.
_STARTING = frozenset({"ContainerCreating", "PodInitializing"})


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def age(created_at: str | None, now: float) -> float | None:
    created = _ts(created_at)
    return round(now - created, 1) if created is not None else None


def pod_reason(row: PodRow) -> str | None:
    """The most telling reason a pod is not healthy, or None when nothing points at one."""
    app = [c for c in row.containers if not c.init]
    for c in app:
        if c.waiting_reason and c.waiting_reason not in _STARTING:
            return f"{c.name}: {c.waiting_reason}"
    for c in row.containers:
        if c.init and c.waiting_reason and c.waiting_reason not in _STARTING:
            return f"init {c.name}: {c.waiting_reason}"
    if row.reason:
        return row.reason
    if row.unschedulable:
        return "Unschedulable"
    for c in app:
        if c.terminated_reason and c.terminated_reason != "Completed":
            return f"{c.name}: {c.terminated_reason}"
    for c in app:
        if c.last_terminated_reason in ("OOMKilled", "Error") and not row.ready:
            return f"{c.name}: last {c.last_terminated_reason}"
    return None


def pod_item(row: PodRow, now: float) -> PodItem:
    app = [c for c in row.containers if not c.init]
    return PodItem(
        namespace=row.namespace,
        name=row.name,
        status=row.status,
        phase=row.phase,
        ready=f"{sum(1 for c in app if c.ready)}/{len(app)}",
        restarts=row.restarts,
        node=row.node,
        deployment=row.deployment,
        age_seconds=age(row.created_at, now),
        reason=pod_reason(row),
    )


def rollout_in_progress(row: DeploymentRow) -> bool:
    """The store's one definition (`store.transitions.rollout_progressing`); paused is not."""
    return deployment_rollout(row) == "progressing"


def deployment_item(row: DeploymentRow, now: float) -> DeploymentItem:
    reason = None
    for name in ("ReplicaFailure", "Progressing", "Available"):
        cond = row.conditions.get(name)
        if cond is None:
            continue
        bad = cond.status == "True" if name == "ReplicaFailure" else cond.status != "True"
        if name == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
            bad = True
        if bad:
            reason = f"{name}: {cond.reason or cond.status}"
            break
    return DeploymentItem(
        namespace=row.namespace,
        name=row.name,
        status=row.status,
        replicas=row.replicas,
        ready=row.ready_replicas,
        available=row.available_replicas,
        updated=row.updated_replicas,
        unavailable=row.unavailable_replicas,
        rollout_in_progress=rollout_in_progress(row),
        age_seconds=age(row.created_at, now),
        reason=reason,
    )


def node_problems(row: NodeRow) -> list[str]:
    problems = []
    for name, cond in row.conditions.items():
        healthy = cond.status == "True" if name == "Ready" else cond.status != "True"
        if not healthy:
            problems.append(f"{name}={cond.status}")
    if row.unschedulable:
        problems.append("cordoned")
    return problems


def conditions(conditions: dict[str, Condition]) -> list[ConditionItem]:
    return [
        ConditionItem(
            type=name,
            status=c.status,
            reason=c.reason,
            message=c.message,
            last_transition=c.last_transition,
        )
        for name, c in conditions.items()
    ]


def change_item(t: Transition) -> ChangeItem:
    return ChangeItem(
        at=iso(t.at) or "",
        kind=t.kind.value,
        namespace=t.namespace,
        name=t.name,
        field=t.field,
        old=t.old,
        new=t.new,
        severity=t.severity.value,
        reason=t.reason,
        message=t.message,
    )


def object_changes(o: ObjectHistory) -> ObjectChanges:
    return ObjectChanges(
        kind=o.kind.value,
        namespace=o.namespace,
        name=o.name,
        changes=o.changes,
        first_at=iso(o.first_at) or "",
        last_at=iso(o.last_at) or "",
        worst_severity=o.worst_severity.value,
        fields=list(o.fields),
        latest=change_item(o.latest),
    )


def finding_item(f: Finding, now: float) -> FindingItem:
    return FindingItem(
        severity=f.severity.value,
        check=f.check,
        kind=f.kind.value,
        namespace=f.namespace,
        name=f.name,
        reason=f.reason,
        message=f.message,
        since=iso(f.since),
        for_seconds=round(now - f.since, 1) if f.since is not None else None,
        evidence=dict(f.evidence),
        counts_at=iso(f.counts_at),
    )


def cause_item(item: ReportItem) -> CauseItem:
    """A cause past the page: its head and its group's counts, without names or evidence."""
    f = item.finding
    g = item.group
    return CauseItem(
        severity=f.severity.value,
        check=f.check,
        kind=f.kind.value,
        namespace=f.namespace,
        name=f.name,
        pending=item.pending,
        group=None
        if g is None
        else FindingGroupItem(
            by=g.by,
            key=g.key,
            objects=g.objects,
            severity=g.severity.value,
            by_check=dict(g.by_check),
            examples=[],
            pending=g.pending,
            pending_by_check=dict(g.pending_by_check),
        ),
    )


def report_item(item: ReportItem, now: float) -> FindingItem:
    """A grouped report line: the head finding, its object's other checks, the pods it covers."""
    out = finding_item(item.finding, now)
    out.other_checks = list(item.other_checks)
    g = item.group
    if g is not None:
        out.group = FindingGroupItem(
            by=g.by,
            key=g.key,
            objects=g.objects,
            severity=g.severity.value,
            by_check=dict(g.by_check),
            examples=list(g.examples),
            deployments=list(g.deployments),
            pending=g.pending,
            pending_by_check=dict(g.pending_by_check),
            pending_examples=list(g.pending_examples),
        )
    return out


def row_fields(row: Any, *, drop: Sequence[str]) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(row)
    for key in ("obj", *drop):
        data.pop(key, None)
    return data
