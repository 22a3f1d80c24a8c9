"""What a finding is, when it counts, and how findings with one cause are grouped.

The one place that decides, for every answer (the health report, the
`problems_only` lists, the single-object answers, the health resource),
whether an object's problem is reported:

- *current*: broken now and past its grace period (`Candidate.min_age_s`);
- *pending*: broken now but inside its grace period. A pod is Pending for a
  few seconds on every start, a deployment is short of replicas during every
  rollout, so these count only once they last. A pending finding carries
  `counts_at`, the time it will count if nothing changes, and answers show
  it as pending instead of leaving it out silently;
- *past*: something that happened and may be over (an OOM kill within the
  last hour, restarts in the last hour). `PAST_CHECKS` names them. They are
  reported only when asked for: "problems only" means broken now.

Grouping (`group_findings`) puts the pods of one cause under it, so one
bounded page accounts for every problem: pods on a NotReady, pressured or
network-less node under that node's finding, the failing pods of one
deployment under the deployment's finding (or, when the deployment has none
yet, under its worst pod), with counts and a few names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Literal, NamedTuple

import msgspec

from store.model import Kind, Severity

__all__ = [
    "CAUSE_CHECKS",
    "EXAMPLES",
    "PAST_CHECKS",
    "Candidate",
    "Finding",
    "FindingGroup",
    "FindingSet",
    "ReportItem",
    "candidate_state",
    "cause_nodes",
    "classify",
    "group_findings",
    "is_active",
    "rank_key",
]

# Checks about an event that happened rather than a state that holds.
PAST_CHECKS: Final = frozenset({"pod.oom_killed", "pod.restarts_rising"})
# Node findings that explain the problems of the pods on the node.
CAUSE_CHECKS: Final = frozenset({"node.not_ready", "node.network_unavailable", "node.pressure"})
# Pod names shown per group: enough to start from, bounded whatever the group's size.
EXAMPLES: Final = 5


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One problem with one object, as the health report shows it.

    `check` is a stable identifier (`pod.crash_loop`, `node.not_ready`, ...)
    to filter or count on; `reason` is Kubernetes' word for it where one
    exists (CrashLoopBackOff, ProgressDeadlineExceeded); `evidence` holds the
    values the conclusion rests on.
    """

    check: str
    severity: Severity
    kind: Kind
    namespace: str
    name: str
    uid: str
    reason: str
    message: str
    since: float | None = None
    evidence: dict[str, Any] = {}
    # Where a pod runs and what owns it: the causes its finding is grouped under.
    node: str | None = None
    deployment: str | None = None
    # Set on a *pending* finding only: when it will count if the condition lasts.
    counts_at: float | None = None


class Candidate(NamedTuple):
    """A finding-to-be: current once `min_age_s` has passed since `finding.since`.

    `field` names the tracked status field (see `store.transitions`) whose
    history dates the problem when the object carries no timestamp of its own.
    `max_age_s` expires findings about past events (an OOM kill an hour ago).
    """

    finding: Finding
    min_age_s: float = 0.0
    max_age_s: float | None = None
    field: str | None = None
    has_own_since: bool = False


State = Literal["active", "pending", "expired"]


def candidate_state(candidate: Candidate, now: float) -> State:
    """The grace-period rule, applied the same way by every answer.

    Active once `min_age_s` has passed since the problem began (`since`),
    pending before that, expired past `max_age_s`. A `since` in the future
    (the API server's clock ahead of ours) counts as just begun: active at
    once when there is no grace period, pending otherwise.
    """
    since = candidate.finding.since
    if since is None:
        return "active" if candidate.min_age_s <= 0 else "pending"
    age = now - since
    if age < candidate.min_age_s and candidate.min_age_s > 0:
        return "pending"
    if candidate.max_age_s is not None and age > candidate.max_age_s:
        return "expired"
    return "active"


def is_active(candidate: Candidate, since: float | None, now: float) -> bool:
    """Past its minimum age and not yet expired (`since` overrides the finding's own)."""
    if since != candidate.finding.since:
        candidate = candidate._replace(
            finding=msgspec.structs.replace(candidate.finding, since=since)
        )
    return candidate_state(candidate, now) == "active"


class FindingSet(NamedTuple):
    """Every finding of some objects at one moment, by tense."""

    current: list[Finding]
    pending: list[Finding]
    past: list[Finding]


def classify(candidates: Iterable[Candidate], now: float) -> FindingSet:
    """Sort candidates into current, pending (with `counts_at`) and past; drop expired ones."""
    out = FindingSet([], [], [])
    for c in candidates:
        state = candidate_state(c, now)
        if state == "expired":
            continue
        f = c.finding
        if state == "pending":
            at = f.since + c.min_age_s if f.since is not None else None
            out.pending.append(msgspec.structs.replace(f, counts_at=at))
        elif f.check in PAST_CHECKS:
            out.past.append(f)
        else:
            out.current.append(f)
    return out


_KIND_ORDER = {Kind.NODE: 0, Kind.DEPLOYMENT: 1, Kind.POD: 2}


def rank_key(f: Finding) -> tuple[Any, ...]:
    """Critical first, then the oldest problem, then a stable order by identity."""
    return (
        -f.severity.rank,
        f.since if f.since is not None else float("inf"),
        _KIND_ORDER[f.kind],
        f.namespace,
        f.name,
        f.check,
    )


class FindingGroup(msgspec.Struct, frozen=True, kw_only=True):
    """The pods whose problems one finding explains (by their node or their deployment)."""

    by: str  # "node" or "deployment"
    key: str  # the node's name, or namespace/deployment
    objects: int  # pods in the group, besides the head object
    severity: Severity  # the worst among the head and the pods
    by_check: dict[str, int]
    examples: list[str]  # a few pods (namespace/name), worst first


class ReportItem(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a grouped report: a finding, the object's other checks, the pods it covers."""

    finding: Finding
    other_checks: list[str] = []
    group: FindingGroup | None = None

    @property
    def objects(self) -> int:
        """Objects this item accounts for: its own, plus the grouped pods."""
        return 1 + (self.group.objects if self.group else 0)


def _item_key(item: ReportItem) -> tuple[Any, ...]:
    f = item.finding
    worst = item.group.severity if item.group else f.severity
    return (-worst.rank, *rank_key(f)[1:])


def _per_object(findings: Iterable[Finding]) -> dict[tuple[Kind, str, str], list[Finding]]:
    objects: dict[tuple[Kind, str, str], list[Finding]] = {}
    for f in sorted(findings, key=rank_key):
        objects.setdefault((f.kind, f.namespace, f.name), []).append(f)
    return objects


def _group(by: str, key: str, head: Finding, pods: list[list[Finding]]) -> FindingGroup:
    checks: dict[str, int] = {}
    for fs in pods:
        checks[fs[0].check] = checks.get(fs[0].check, 0) + 1
    worst = max([head.severity, *(fs[0].severity for fs in pods)], key=lambda s: s.rank)
    return FindingGroup(
        by=by,
        key=key,
        objects=len(pods),
        severity=worst,
        by_check=checks,
        examples=[f"{fs[0].namespace}/{fs[0].name}" for fs in pods[:EXAMPLES]],
    )


def _item(findings: list[Finding], group: FindingGroup | None = None) -> ReportItem:
    return ReportItem(
        finding=findings[0], other_checks=[f.check for f in findings[1:]], group=group
    )


def cause_nodes(findings: Iterable[Finding]) -> frozenset[str]:
    """The nodes whose findings explain the problems of their pods (`CAUSE_CHECKS`)."""
    return frozenset(f.name for f in findings if f.kind is Kind.NODE and f.check in CAUSE_CHECKS)


def group_findings(
    findings: Iterable[Finding], *, causes: frozenset[str] = frozenset()
) -> list[ReportItem]:
    """One item per cause, worst first: nodes and deployments carry the pods they explain.

    A pod goes under its node when the node has a finding that explains it
    (`CAUSE_CHECKS`), else under its deployment: the deployment's own item
    when it has a finding, else an item headed by the deployment's worst pod
    when two or more of its pods have findings. Every object is counted
    once, so the items' `objects` add up to the number of objects with findings.
    `causes` adds nodes whose finding is listed elsewhere (pending pods on a
    node that is broken now): their pods are grouped by node, under the worst.
    """
    found = list(findings)
    objects = _per_object(found)
    pods_by_node: dict[str, list[list[Finding]]] = {}
    pods_by_deployment: dict[tuple[str, str], list[list[Finding]]] = {}
    nodes = cause_nodes(found) | causes
    items: list[ReportItem] = []
    for (kind, namespace, _name), fs in objects.items():
        if kind is not Kind.POD:
            continue
        node, deployment = fs[0].node, fs[0].deployment
        if node is not None and node in nodes:
            pods_by_node.setdefault(node, []).append(fs)
        elif deployment:
            pods_by_deployment.setdefault((namespace, deployment), []).append(fs)
        else:
            items.append(_item(fs))
    for (kind, namespace, name), fs in objects.items():
        if kind is Kind.NODE:
            pods = pods_by_node.pop(name, [])
            group = _group("node", name, fs[0], pods) if pods else None
            items.append(_item(fs, group))
        elif kind is Kind.DEPLOYMENT:
            pods = pods_by_deployment.pop((namespace, name), [])
            group = _group("deployment", f"{namespace}/{name}", fs[0], pods) if pods else None
            items.append(_item(fs, group))
    for node, pods in pods_by_node.items():  # nodes listed elsewhere: the worst pod leads
        head, rest = pods[0], pods[1:]
        items.append(_item(head, _group("node", node, head[0], rest) if rest else None))
    for (namespace, deployment), pods in pods_by_deployment.items():
        head, rest = pods[0], pods[1:]
        group = _group("deployment", f"{namespace}/{deployment}", head[0], rest) if rest else None
        items.append(_item(head, group))
    items.sort(key=_item_key)
    return items
