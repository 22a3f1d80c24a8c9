"""The short text that accompanies each structured answer.

Structured content is the answer; this text is for clients (and models) that
read only `content`: a headline, then at most `_MAX_LINES` compact lines, one
per item, in the same order as the structured items. Never more than a few
kilobytes, whatever the cluster size.
"""

from __future__ import annotations

from collections.abc import Iterable

from mcpserver.durations import format_duration
from mcpserver.surface.answers import (
    ChangeItem,
    ClusterHealth,
    DeploymentDetail,
    DeploymentItem,
    DeploymentList,
    FindingItem,
    Freshness,
    MetricSummary,
    NodeDetail,
    NodeItem,
    NodeList,
    ObjectChanges,
    PodDetail,
    PodItem,
    PodList,
    QueryAnswer,
    RecentChanges,
)

__all__ = ["render"]

_MAX_LINES = 20
_MESSAGE = 160  # characters of a finding's message in the text (structured content has it all)
_NAMES = 3  # names per group in the text


def _pct(value: object) -> str:
    return f"{value:g}%" if isinstance(value, int | float) else "-"


def human_bytes(count: float) -> str:
    """Bytes as people read them: 512 B, 300 MiB, 1.5 GiB (binary units, as Kubernetes uses)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    step = 0
    while abs(count) >= 1024 and step < len(units) - 1:
        count /= 1024
        step += 1
    digits = 0 if step == 0 or count >= 100 else 1
    return f"{count:.{digits}f} {units[step]}"


def _group_line(group: dict[str, object]) -> str:
    """One metric_summary group: pods, restarts (now and as events), requests in plain units."""

    def number(key: str) -> float:
        value = group.get(key)
        return value if isinstance(value, int | float) else 0

    line = (
        f"pods {number('pods'):g}, ready {number('ready'):g}; "
        f"restarts: {number('restarts'):g} now in pods' counters, "
        f"{number('restarts_last_hour'):g} restart events in the last hour; "
        f"requests: CPU {number('cpu_request_m'):g}m, "
        f"memory {human_bytes(number('memory_request_bytes'))}"
    )
    if "cpu_requested_pct" in group:  # nodes: the same requests as a share of allocatable
        line += (
            f" (of allocatable: CPU {_pct(group.get('cpu_requested_pct'))}, "
            f"memory {_pct(group.get('memory_requested_pct'))})"
        )
    return line


def _stale(freshness: Freshness) -> list[str]:
    if not freshness.stale:
        return []
    return ["STALE: " + "; ".join(freshness.reasons)]


def _more(shown: int, total: int | None, cursor: str | None) -> list[str]:
    lines = []
    if total is not None and total > shown:
        lines.append(f"... {total - shown} more")
    if cursor:
        lines.append(f"next page: cursor={cursor}")
    return lines


def _cut(lines: Iterable[str]) -> list[str]:
    out = list(lines)
    return out[:_MAX_LINES] + (
        [f"(+{len(out) - _MAX_LINES} more in structured content)"] if len(out) > _MAX_LINES else []
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def _finding(f: FindingItem) -> str:
    where = f"{f.namespace}/{f.name}" if f.namespace else f.name
    since = f" for {format_duration(f.for_seconds)}" if f.for_seconds is not None else ""
    pending = f" (pending: counts at {f.counts_at})" if f.counts_at else ""
    also = f" [also {', '.join(f.other_checks)}]" if f.other_checks else ""
    message = f.message if len(f.message) <= _MESSAGE else f.message[: _MESSAGE - 3] + "..."
    line = f"- {f.severity} {f.kind} {where}: {f.reason}{since}{pending}{also} — {message}"
    g = f.group
    if g is not None and g.objects:
        shown = [*g.deployments, *g.examples][:_NAMES]
        names = ", ".join(shown) + (", ..." if g.objects > len(shown) else "")
        things = "object" if g.objects == 1 else "objects"
        line += f"\n  + {g.objects} {things} of {g.by} {g.key} ({_counts(g.by_check)}): {names}"
    if g is not None and g.pending:
        shown = g.pending_examples[:_NAMES]
        names = ", ".join(shown) + (", ..." if g.pending > len(shown) else "")
        line += (
            f"\n  + {g.pending} pending of {g.by} {g.key} ({_counts(g.pending_by_check)}): {names}"
        )
    return line


def _pod(p: PodItem) -> str:
    reason = f" ({p.reason})" if p.reason else ""
    return (
        f"- {p.namespace}/{p.name} {p.status}{reason} ready {p.ready} "
        f"restarts {p.restarts} node {p.node or '-'}"
    )


def _deployment(d: DeploymentItem) -> str:
    reason = f" ({d.reason})" if d.reason else ""
    rollout = " rolling out" if d.rollout_in_progress else ""
    return (
        f"- {d.namespace}/{d.name} {d.status}{reason} ready {d.ready}/{d.replicas} "
        f"available {d.available}{rollout}"
    )


def _node(n: NodeItem) -> str:
    cpu = f"{100 * n.cpu_requested_m / n.cpu_allocatable_m:.0f}%" if n.cpu_allocatable_m else "-"
    mem = (
        f"{100 * n.memory_requested_bytes / n.memory_allocatable_bytes:.0f}%"
        if n.memory_allocatable_bytes
        else "-"
    )
    problems = f" [{', '.join(n.problems)}]" if n.problems else ""
    return (
        f"- {n.name} {n.status}{problems} pods {n.pods} cpu requested {cpu} memory requested {mem}"
    )


def _object_changes(o: ObjectChanges) -> str:
    where = f"{o.namespace}/{o.name}" if o.namespace else o.name
    c = o.latest
    times = "" if o.changes == 1 else f" {o.changes}x {o.first_at} .. "
    return (
        f"- {o.worst_severity} {o.kind} {where}:{times or ' '}{o.last_at} "
        f"latest {c.field}: {c.old} -> {c.new}"
    )


def _change(c: ChangeItem) -> str:
    where = f"{c.namespace}/{c.name}" if c.namespace else c.name
    why = f" ({c.reason})" if c.reason else ""
    return f"- {c.at} {c.severity} {c.kind} {where} {c.field}: {c.old} -> {c.new}{why}"


def render(answer: object) -> str:
    """The text summary of any tool answer."""
    lines: list[str]
    if isinstance(answer, ClusterHealth):
        c = answer.cluster
        lines = [
            answer.headline,
            f"Pods {c.get('pods', 0)} ({_counts(c.get('pods_by_phase', {}))}); "
            f"nodes {c.get('nodes', 0)} ({_counts(c.get('nodes_by_status', {}))}); "
            f"deployments {c.get('deployments', 0)} "
            f"({_counts(c.get('deployments_by_status', {}))}).",
            *_stale(answer.freshness),
            *_cut(_finding(f) for f in answer.findings),
            *_more(0, 0, answer.next_cursor),
        ]
        if answer.more_causes:
            by_check: dict[str, list[str]] = {}
            for cause in answer.more_causes:
                where = f"{cause.namespace}/{cause.name}" if cause.namespace else cause.name
                by_check.setdefault(cause.check, []).append(where)
            lines.append(
                f"{len(answer.more_causes)} more causes (details on the next pages): "
                + "; ".join(
                    f"{check} {len(names)} ({', '.join(names[:3])}"
                    + (", ..." if len(names) > 3 else "")
                    + ")"
                    for check, names in by_check.items()
                )
            )
        if answer.pending_total:
            lines.append(
                f"Pending ({answer.pending_total} objects, not counted until their grace "
                f"period ends: {_counts(answer.pending_by_check)}):"
            )
            lines += _cut(_finding(f) for f in answer.pending[:5])
        if answer.past:
            lines.append(f"Past problems ({answer.past_total} objects):")
            lines += _cut(_finding(f) for f in answer.past)
    elif isinstance(answer, PodList):
        lines = [
            f"{answer.total} pods match; {len(answer.items)} shown.",
            *_stale(answer.freshness),
        ]
        lines += _cut(_pod(p) for p in answer.items) + _more(
            len(answer.items), None, answer.next_cursor
        )
    elif isinstance(answer, DeploymentList):
        lines = [
            f"{answer.total} deployments match; {len(answer.items)} shown.",
            *_stale(answer.freshness),
        ]
        lines += _cut(_deployment(d) for d in answer.items) + _more(
            len(answer.items), None, answer.next_cursor
        )
    elif isinstance(answer, NodeList):
        lines = [
            f"{answer.total} nodes match; {len(answer.items)} shown.",
            *_stale(answer.freshness),
        ]
        lines += _cut(_node(n) for n in answer.items) + _more(
            len(answer.items), None, answer.next_cursor
        )
    elif isinstance(answer, PodDetail):
        p = answer.pod
        app = [c for c in answer.containers if not c.init]
        lines = [
            f"Pod {p['namespace']}/{p['name']}: {p['status']} (phase {p['phase']}), "
            f"ready {sum(c.ready for c in app)}/{len(app)}, restarts {p['restarts']}, "
            f"node {p.get('node') or '-'}.",
            *_stale(answer.freshness),
        ]
        if p.get("reason_summary"):
            lines.append(f"Reason: {p['reason_summary']}")
        lines += [_finding(f) for f in answer.findings]
        lines += [_finding(f) for f in answer.pending_findings]
        lines += [_finding(f) for f in answer.past_findings]
        lines += _cut(_change(c) for c in answer.recent_changes[:5])
        if answer.redacted_values:
            lines.append(f"({answer.redacted_values} literal env values redacted)")
    elif isinstance(answer, DeploymentDetail):
        d = answer.deployment
        lines = [
            f"Deployment {d['namespace']}/{d['name']}: {d['status']}, "
            f"ready {d['ready_replicas']}/{d['replicas']}, "
            f"available {d['available_replicas']}, updated {d['updated_replicas']}"
            + (", rollout in progress" if d.get("rollout_in_progress") else "")
            + f"; {answer.pods_total} pods.",
            *_stale(answer.freshness),
            *(_finding(f) for f in answer.findings),
            *(_finding(f) for f in answer.pending_findings),
            *_cut(_pod(p) for p in answer.pods),
        ]
    elif isinstance(answer, NodeDetail):
        n = answer.node
        lines = [
            f"Node {n['name']}: {n['status']}; requested ÷ allocatable: "
            f"CPU {_pct(answer.cpu_requested_pct_of_allocatable)}, "
            f"memory {_pct(answer.memory_requested_pct_of_allocatable)}, "
            f"pods {_pct(answer.pods_pct_of_allocatable)}; {answer.pods_total} pods.",
            *_stale(answer.freshness),
            *(_finding(f) for f in answer.findings),
            *(_finding(f) for f in answer.pending_findings),
            *_cut(_pod(p) for p in answer.pods),
        ]
    elif isinstance(answer, RecentChanges):
        lines = [
            f"{answer.total} changes to {answer.objects} objects since {answer.since} "
            f"({_counts(answer.by_severity)}); by kind: {_counts(answer.by_kind)}.",
            f"By field: {_counts(dict(list(answer.by_field.items())[:8]))}.",
            *_stale(answer.freshness),
        ]
        if answer.by_object:
            lines.append(f"Objects that changed (top {len(answer.by_object)}, worst first):")
            lines += [_object_changes(o) for o in answer.by_object[:10]]
        lines.append(f"Latest {len(answer.items)} changes (newest first):")
        lines += _cut(_change(c) for c in answer.items[:10]) + _more(
            min(len(answer.items), 10), len(answer.items), answer.next_cursor
        )
    elif isinstance(answer, MetricSummary):
        lines = [
            f"Top {len(answer.groups)} of {answer.groups_total} by {answer.by} "
            f"(sorted by {answer.sort}).",
            *_stale(answer.freshness),
        ]
        key_field = {"namespace": "namespace", "node": "node"}.get(answer.by)
        for group in answer.groups[:_MAX_LINES]:
            key = (
                group.get(key_field)
                if key_field
                else f"{group.get('namespace')}/{group.get('name')}"
            )
            lines.append(f"- {key}: {_group_line(group)}")
    elif isinstance(answer, QueryAnswer):
        lines = [
            f"{answer.row_count} rows{' (truncated at the row cap)' if answer.truncated else ''} "
            f"in {answer.elapsed_ms:.1f} ms; columns: {', '.join(answer.columns)}.",
            *_stale(answer.freshness),
            *_cut(" | ".join(str(v) for v in row) for row in answer.rows),
        ]
    else:  # pragma: no cover - every tool answer is handled above
        lines = [str(answer)]
    return "\n".join(lines)
