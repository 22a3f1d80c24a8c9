"""Running the health analyzers, and the health report built from their findings.

Two kinds of analyzers, because of where their input lives:

- *Row analyzers* (`pod_crash_loop`, `node_not_ready`, ...) look at one row;
  each kind module lists its own (`KindSpec.analyzers`).
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
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from kinds.common import HealthSettings
from kinds.pod import pod_restarts_rising
from kinds.registry import STORED
from store.findings import (
    Candidate,
    Finding,
    FindingSet,
    ReportItem,
    group_findings,
    is_active,
    rank_key,
)
from store.model import Kind, Severity

__all__ = [
    "Candidate",
    "Finding",
    "HealthReport",
    "analyze_row",
    "build_report",
    "is_active",
    "node_overcommitted",
    "pod_restarts_rising",
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


def analyze_row(kind: Kind, row: Any, settings: HealthSettings) -> tuple[Candidate, ...]:
    """The kind's row analyzers (`KindSpec.analyzers`), unless it says none can flag the row."""
    spec = STORED[kind]
    if spec.analyzers_skip is not None and spec.analyzers_skip(row):
        return ()
    out = []
    for analyzer in spec.analyzers:
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
