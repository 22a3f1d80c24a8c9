"""Rows and findings as answer items: the compact shapes lists and reports are made of.

Pure functions of one store row (or finding, or transition) and the time, so
tools, resources and prompts render an object the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from kinds import deployment, node, pod
from kinds.common import age_seconds as age
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
from store import Condition, DeploymentRow, Finding, ObjectHistory, PodRow, ReportItem, Transition

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

# The kinds' own renderings (`KindSpec.item`), typed for the answers that name them.
node_problems = node.node_problems
pod_reason = pod.pod_reason
rollout_in_progress = deployment.rollout_in_progress


def pod_item(row: PodRow, now: float) -> PodItem:
    return PodItem(**pod.item(row, now))


def deployment_item(row: DeploymentRow, now: float) -> DeploymentItem:
    return DeploymentItem(**deployment.item(row, now))


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
