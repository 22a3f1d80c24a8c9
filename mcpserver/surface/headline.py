"""The health headline: OK only when the agent can see that it is.

"Cluster OK: 0 findings" is a claim about every object in scope, so it is
made only when every watched kind in scope is synced and fresh (else the
status is `unknown`, with the reasons from the answer's freshness) and the
filters match something (else `no_match`, saying which filter matched
nothing). Otherwise the status is the worst current finding's severity.
Pending findings (inside their grace period) and past ones are counted in the
headline too, so "OK" never hides them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple

from kinds import STORED
from mcpserver.surface.answers import Freshness
from mcpserver.surface.freshness import iso
from store import HealthReport, Kind, View

__all__ = ["Headline", "HealthScope", "judge_headline"]


class HealthScope(NamedTuple):
    """The filters of one health question."""

    namespace: str | None
    kinds: Sequence[Kind] | None
    node: str | None


class Headline(NamedTuple):
    status: str  # ok | warning | critical | unknown | no_match
    text: str
    unknown_reasons: list[str]


def _kinds_in_scope(scope: HealthScope) -> list[Kind]:
    """The kinds whose objects the answer speaks about (nodes have no namespace)."""
    kinds = list(scope.kinds) if scope.kinds else list(Kind)
    if scope.namespace is not None:
        kinds = [k for k in kinds if STORED[k].resource.namespaced]
    if scope.node is not None:  # the node itself, and what runs on it
        kinds = [
            k for k in kinds if not STORED[k].resource.namespaced or "node" in STORED[k].filters
        ]
    return kinds


def _unknown_reasons(
    freshness: Freshness, kinds: Sequence[Kind], watched: Collection[Kind], explicit: bool
) -> list[str]:
    """Why the answer cannot vouch for the kinds in scope; reasons not tied to a kind count too."""
    reasons: list[str] = []
    for kind in kinds:
        if kind not in watched:
            if explicit:
                reasons.append(f"{kind.value}: not watched by this agent (--kinds)")
            continue
        own = [r for r in freshness.reasons if r.startswith(kind.value)]
        state = freshness.kinds.get(kind.value)
        if own:
            reasons += own
        elif state is not None and not state.synced:
            reasons.append(f"{kind.value}: not listed yet")
    reasons += [r for r in freshness.reasons if not any(r.startswith(k.value) for k in Kind)]
    return reasons


def _objects_in_scope(scope: HealthScope, kinds: Sequence[Kind], view: View) -> int:
    """How many objects the filters select, from the view's in-memory sums."""
    total = 0
    for kind in kinds:
        if kind is Kind.POD:
            if scope.node is not None:
                totals = view.by_node.get(scope.node)
            elif scope.namespace is not None:
                totals = view.by_namespace.get(scope.namespace)
            else:
                totals = view.cluster
            total += totals.pods if totals else 0
        elif kind is Kind.NODE:
            total += (scope.node in view.nodes) if scope.node is not None else len(view.nodes)
        elif scope.namespace is not None:
            total += view.namespaces[kind].get(scope.namespace, 0)
        else:
            total += view.counts[kind]
    return total


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _label(scope: HealthScope) -> str:
    if scope.node is not None:
        label = f'Node "{scope.node}"'
    elif scope.namespace is not None:
        label = f'Namespace "{scope.namespace}"'
    else:
        label = "Cluster"
    if scope.kinds:
        label += " (" + ", ".join(f"{k.value}s" for k in scope.kinds) + ")"
    return label


def _no_match(scope: HealthScope, kinds: Sequence[Kind]) -> str:
    what = " or ".join(f"{k.value.lower()}s" for k in kinds) or "objects"
    if scope.node is not None and scope.namespace is not None:
        where = f'on node "{scope.node}" in namespace "{scope.namespace}"'
    elif scope.node is not None:
        return f'no node "{scope.node}" and no pods on it in the watch cache'
    elif scope.namespace is not None:
        where = f'in namespace "{scope.namespace}"'
    else:
        where = "in the cluster"
    return f"the filters match nothing: no {what} {where} in the watch cache"


def _extras(report: HealthReport) -> str:
    parts = []
    if report.pending_total:
        first = report.pending_first_counts_at
        when = f"; the first counts at {iso(first)}" if first is not None else ""
        parts.append(f"{report.pending_total} pending (broken now, inside a grace period{when})")
    if report.past_total:
        parts.append(f"{report.past_total} with past problems (ask with include_past=true)")
    return "; " + "; ".join(parts) if parts else ""


def judge_headline(
    *,
    report: HealthReport,
    freshness: Freshness,
    scope: HealthScope,
    watched: Collection[Kind],
    view: View,
) -> Headline:
    """The status and its one-line text for a health report over `scope`."""
    kinds = _kinds_in_scope(scope)
    label = _label(scope)
    counts = ", ".join(f"{k} {v}" for k, v in report.counts_by_severity.items() if v)
    worst = next((k for k, v in report.counts_by_severity.items() if v), None)
    reasons = _unknown_reasons(freshness, kinds, watched, explicit=bool(scope.kinds))
    if reasons:
        so_far = f" ({report.total} findings so far, worst {worst})" if report.total else ""
        return Headline(
            "unknown",
            f"{label} UNKNOWN: the watch cache cannot vouch for it: "
            + "; ".join(reasons)
            + so_far
            + ".",
            reasons,
        )
    if not report.total and _objects_in_scope(scope, kinds, view) == 0:
        return Headline("no_match", f"{label} NO MATCH: {_no_match(scope, kinds)}.", [])
    if not report.total:
        return Headline("ok", f"{label} OK: no current findings{_extras(report)}.", [])
    status = worst if worst in ("critical", "warning") else "ok"
    return Headline(
        status,
        f"{label} {status.upper()}: {_n(report.total, 'finding')} on "
        f"{_n(report.objects, 'object')} ({counts}){_extras(report)}.",
        [],
    )
