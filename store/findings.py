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

import re
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
    "explained_deployments",
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
    """The objects whose problems one finding explains.

    `by` names the shared cause: `node` (the pods on a broken node, and the
    deployments short of replicas because of them), `deployment` (the failing
    pods of one deployment) or `quota` (the deployments a namespace's quota
    keeps from creating pods, and their pods).
    """

    by: str
    key: str  # the node's name, namespace/deployment, or namespace/quota
    objects: int  # objects in the group, besides the head object
    severity: Severity  # the worst among the head and the members
    by_check: dict[str, int]  # the members' worst findings, by check
    examples: list[str]  # a few pods (namespace/name), worst first
    deployments: list[str] = []  # the deployments in the group (namespace/name), a few


class ReportItem(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a grouped report: a finding, the object's other checks, what it covers."""

    finding: Finding
    other_checks: list[str] = []
    group: FindingGroup | None = None

    @property
    def objects(self) -> int:
        """Objects this item accounts for: its own, plus the group's."""
        return 1 + (self.group.objects if self.group else 0)


Member = list[Finding]  # one object's findings, worst first
ObjectKey = tuple[Kind, str, str]

# Deployment findings that only say it is short of (updated) replicas: a broken
# node under its pods explains them.
_CAPACITY_CHECKS = frozenset(
    {"deployment.unavailable", "deployment.zero_available", "deployment.rollout_stuck"}
)
_QUOTA = re.compile(r"exceeded quota: ([^,\s]+)")


def _quota(fs: Member) -> str | None:
    """The namespace/quota that keeps a deployment from creating pods, if that is its problem."""
    for f in fs:
        if f.check == "deployment.replica_failure" and (m := _QUOTA.search(f.message)):
            return f"{f.namespace}/{m.group(1)}"
    return None


def _item_key(item: ReportItem) -> tuple[Any, ...]:
    f = item.finding
    worst = item.group.severity if item.group else f.severity
    return (-worst.rank, *rank_key(f)[1:])


def _per_object(findings: Iterable[Finding]) -> dict[ObjectKey, Member]:
    objects: dict[ObjectKey, Member] = {}
    for f in sorted(findings, key=rank_key):
        objects.setdefault((f.kind, f.namespace, f.name), []).append(f)
    return objects


def _group(by: str, key: str, head: Finding, members: list[Member]) -> FindingGroup:
    members = sorted(members, key=lambda fs: rank_key(fs[0]))
    checks: dict[str, int] = {}
    for fs in members:
        checks[fs[0].check] = checks.get(fs[0].check, 0) + 1
    worst = max([head.severity, *(fs[0].severity for fs in members)], key=lambda s: s.rank)
    pods = [fs[0] for fs in members if fs[0].kind is Kind.POD]
    deployments = [fs[0] for fs in members if fs[0].kind is Kind.DEPLOYMENT]
    return FindingGroup(
        by=by,
        key=key,
        objects=len(members),
        severity=worst,
        by_check=checks,
        examples=[f"{f.namespace}/{f.name}" for f in pods[:EXAMPLES]],
        deployments=[f"{f.namespace}/{f.name}" for f in deployments[:EXAMPLES]],
    )


def _item(findings: Member, group: FindingGroup | None = None) -> ReportItem:
    return ReportItem(
        finding=findings[0], other_checks=[f.check for f in findings[1:]], group=group
    )


def cause_nodes(findings: Iterable[Finding]) -> frozenset[str]:
    """The nodes whose findings explain the problems of their pods (`CAUSE_CHECKS`)."""
    return frozenset(f.name for f in findings if f.kind is Kind.NODE and f.check in CAUSE_CHECKS)


def explained_deployments(findings: Iterable[Finding]) -> dict[tuple[str, str], str]:
    """(namespace, deployment) -> a broken node that holds some of its broken pods."""
    found = list(findings)
    nodes = cause_nodes(found)
    out: dict[tuple[str, str], str] = {}
    for f in sorted(found, key=rank_key):
        if f.kind is Kind.POD and f.deployment and f.node in nodes:
            out.setdefault((f.namespace, f.deployment), f.node)
    return out


def group_findings(
    findings: Iterable[Finding],
    *,
    causes: frozenset[str] = frozenset(),
    explained: dict[tuple[str, str], str] | None = None,
) -> list[ReportItem]:
    """One item per cause, worst first, each carrying the objects it explains.

    A pod goes under its node when the node has a finding that explains it
    (`CAUSE_CHECKS`), else under its deployment. A deployment that is only
    short of replicas goes under the broken node that holds its broken pods;
    deployments a namespace's quota keeps from creating pods go under that
    quota (with their pods), headed by the first of them. A deployment's
    remaining failing pods go under its item, or, when it has no finding,
    under its worst pod. Every object is counted once, so the items'
    `objects` add up to the number of objects with findings.

    `causes` and `explained` carry broken nodes whose findings are listed in
    another section (a current node, for pending findings): their objects are
    grouped by node under the worst of them.
    """
    found = list(findings)
    objects = _per_object(found)
    nodes = cause_nodes(found) | causes
    explained = {**(explained or {}), **explained_deployments(found)}
    by_node: dict[str, list[Member]] = {}
    by_deployment: dict[tuple[str, str], list[Member]] = {}
    by_quota: dict[str, list[Member]] = {}
    items: list[ReportItem] = []
    for (kind, namespace, _name), fs in objects.items():
        if kind is not Kind.POD:
            continue
        node, deployment = fs[0].node, fs[0].deployment
        if node is not None and node in nodes:
            by_node.setdefault(node, []).append(fs)
        elif deployment:
            by_deployment.setdefault((namespace, deployment), []).append(fs)
        else:
            items.append(_item(fs))
    heads: dict[tuple[str, str], Member] = {}
    for (kind, namespace, name), fs in objects.items():
        if kind is not Kind.DEPLOYMENT:
            continue
        quota = _quota(fs)
        cause = explained.get((namespace, name))
        if quota is not None:
            by_quota.setdefault(quota, []).append(fs)
            by_quota[quota] += by_deployment.pop((namespace, name), [])
        elif cause is not None and all(f.check in _CAPACITY_CHECKS for f in fs):
            by_node.setdefault(cause, []).append(fs)
            by_node[cause] += by_deployment.pop((namespace, name), [])
        else:
            heads[(namespace, name)] = fs
    for (_kind, _namespace, name), fs in objects.items():
        if _kind is Kind.NODE:
            members = by_node.pop(name, [])
            items.append(_item(fs, _group("node", name, fs[0], members) if members else None))
    for node, members in by_node.items():  # a node listed elsewhere: its worst object leads
        members.sort(key=lambda fs: rank_key(fs[0]))
        head, rest = members[0], members[1:]
        items.append(_item(head, _group("node", node, head[0], rest) if rest else None))
    for quota, members in by_quota.items():
        deployments = [m for m in members if m[0].kind is Kind.DEPLOYMENT]
        head = min(deployments, key=lambda fs: rank_key(fs[0]))
        rest = [m for m in members if m is not head]
        items.append(_item(head, _group("quota", quota, head[0], rest) if rest else None))
    for key, fs in heads.items():
        pods = by_deployment.pop(key, [])
        group = _group("deployment", f"{key[0]}/{key[1]}", fs[0], pods) if pods else None
        items.append(_item(fs, group))
    for (namespace, deployment), pods in by_deployment.items():
        head, rest = pods[0], pods[1:]
        group = _group("deployment", f"{namespace}/{deployment}", head[0], rest) if rest else None
        items.append(_item(head, group))
    items.sort(key=_item_key)
    return items
