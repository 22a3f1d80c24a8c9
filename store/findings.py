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
workload (a deployment, through its ReplicaSet; a StatefulSet or any other
stored kind that owns pods) under the workload's finding (or, when it has
none yet, under its worst pod), with counts and a few names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final, Literal, NamedTuple

import msgspec

from kinds.common import Candidate, Finding
from kinds.registry import STORED
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


# A workload cause by the name `group_findings` gives it: "deployment", "statefulset", ...
_KINDS_BY_CAUSE = {kind.value.lower(): kind for kind in STORED if kind not in (Kind.NODE, Kind.POD)}
# Causes first: nodes, then workloads, then pods (`KindSpec.report_order`).
_KIND_ORDER = {kind: spec.report_order for kind, spec in STORED.items()}


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
    """The objects whose problems one cause explains, besides the head object.

    `by` names the shared cause: `node` (the pods on a broken node, and the
    deployments short of replicas because of them), a workload's kind
    (`deployment`, `statefulset`, ...: its failing pods) or `quota` (the
    deployments a namespace's quota keeps from creating pods, and their pods).
    Members broken now and members still inside a grace period (`pending`)
    are counted apart.
    """

    by: str
    key: str  # the node's name, namespace/workload, or namespace/quota
    objects: int  # members with a current finding
    severity: Severity  # the worst among the head and the current members
    by_check: dict[str, int]  # the current members' worst findings, by check
    examples: list[str]  # a few current pods (namespace/name), worst first
    deployments: list[str] = []  # a few current deployments (namespace/name)
    pending: int = 0  # members whose findings are all pending
    pending_by_check: dict[str, int] = {}
    pending_examples: list[str] = []  # a few of them (namespace/name)


class ReportItem(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a grouped report: a finding, the object's other checks, what it covers."""

    finding: Finding
    other_checks: list[str] = []
    group: FindingGroup | None = None
    pending: bool = False  # nothing of this cause is broken past its grace period yet

    @property
    def objects(self) -> int:
        """Objects this item accounts for in its own tense: its own, plus the group's."""
        if self.pending:
            return 1 + (self.group.pending if self.group else 0)
        return 1 + (self.group.objects if self.group else 0)


Member = list[Finding]  # one object's findings, worst first
ObjectKey = tuple[Kind, str, str]
# ("node", name) | (a workload kind: "deployment", "statefulset", ..., ns/name)
# | ("quota", ns/name) | ("", id)
Cause = tuple[str, str]

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


def _counts(members: list[Member]) -> dict[str, int]:
    checks: dict[str, int] = {}
    for fs in members:
        checks[fs[0].check] = checks.get(fs[0].check, 0) + 1
    return checks


def _names(members: list[Member], kind: Kind | None = None) -> list[str]:
    return [
        f"{fs[0].namespace}/{fs[0].name}" for fs in members if kind is None or fs[0].kind is kind
    ][:EXAMPLES]


def _group(
    by: str, key: str, head: Finding, now: list[Member], later: list[Member]
) -> FindingGroup:
    now = sorted(now, key=lambda fs: rank_key(fs[0]))
    later = sorted(later, key=lambda fs: rank_key(fs[0]))
    worst = max([head.severity, *(fs[0].severity for fs in now)], key=lambda s: s.rank)
    return FindingGroup(
        by=by,
        key=key,
        objects=len(now),
        severity=worst,
        by_check=_counts(now),
        examples=_names(now, Kind.POD),
        deployments=_names(now, Kind.DEPLOYMENT),
        pending=len(later),
        pending_by_check=_counts(later),
        pending_examples=_names(later),
    )


def cause_nodes(findings: Iterable[Finding]) -> frozenset[str]:
    """The nodes whose findings explain the problems of their pods (`CAUSE_CHECKS`)."""
    return frozenset(f.name for f in findings if f.kind is Kind.NODE and f.check in CAUSE_CHECKS)


def group_findings(
    current: Iterable[Finding], pending: Iterable[Finding] = ()
) -> tuple[list[ReportItem], list[ReportItem]]:
    """(current items, pending items): one item per cause, worst first.

    Causes: a pod goes under its node when the node has a finding that
    explains it (`CAUSE_CHECKS`), else under its deployment; a deployment that
    is only short of replicas goes under the broken node holding its broken
    pods; deployments a namespace's quota keeps from creating pods go under
    that quota, with their pods. Each cause is one item, headed by the cause's
    own object when it is broken now, else by its worst current member; its
    other objects are the group, current and pending counted apart. A cause
    with nothing current is a pending item. Every object is counted once: the
    current items' `objects` add up to the objects with current findings, and
    the pending items' plus the groups' `pending` to those with only pending.
    """
    now = _per_object(current)
    later = {k: v for k, v in _per_object(pending).items() if k not in now}
    objects = {**later, **now}
    nodes = cause_nodes(f for fs in objects.values() for f in fs)
    cause_of: dict[ObjectKey, Cause] = {}
    explained: dict[tuple[str, str], str] = {}
    for key, fs in objects.items():
        kind, namespace, name = key
        f = fs[0]
        if kind is Kind.NODE:
            cause_of[key] = ("node", name)
        elif kind is Kind.POD:
            if f.node is not None and f.node in nodes:
                cause_of[key] = ("node", f.node)
                if f.deployment:
                    explained.setdefault((namespace, f.deployment), f.node)
            elif f.deployment:
                cause_of[key] = ("deployment", f"{namespace}/{f.deployment}")
            elif f.owner and (owner := _workload(f.owner)) is not None:
                cause_of[key] = (owner[0], f"{namespace}/{owner[1]}")
            else:
                cause_of[key] = ("", f"{namespace}/{name}")
        else:  # any other kind is a workload: its own cause, its pods under it
            cause_of[key] = (kind.value.lower(), f"{namespace}/{name}")
    moved: dict[Cause, Cause] = {}  # a deployment's own cause -> where it went
    for key, fs in objects.items():
        kind, namespace, name = key
        if kind is not Kind.DEPLOYMENT:
            continue
        quota = _quota(fs)
        node = explained.get((namespace, name))
        itself: Cause = ("deployment", f"{namespace}/{name}")
        if quota is not None:
            cause_of[key] = moved[itself] = ("quota", quota)
        elif node is not None and all(f.check in _CAPACITY_CHECKS for f in fs):
            cause_of[key] = moved[itself] = ("node", node)
        else:
            cause_of[key] = itself
    for key, cause in list(cause_of.items()):  # pods follow their deployment
        if key[0] is Kind.POD and cause in moved:
            cause_of[key] = moved[cause]
    members: dict[Cause, list[ObjectKey]] = {}
    for key in sorted(objects, key=lambda k: rank_key(objects[k][0])):
        members.setdefault(cause_of[key], []).append(key)
    current_items: list[ReportItem] = []
    pending_items: list[ReportItem] = []
    for (by, cause_key), keys in members.items():
        own = _cause_object(by, cause_key)
        if own is not None and cause_of.get(own) != (by, cause_key):
            own = None  # the cause's object went under another cause
        broken_now = [k for k in keys if k in now]
        if own in now:
            head = own
        elif broken_now:
            head = broken_now[0]
        else:
            head = own if own in later else keys[0]
        rest_now = [now[k] for k in keys if k in now and k != head]
        rest_later = [later[k] for k in keys if k in later and k != head]
        fs = objects[head]
        group = (
            _group(by, cause_key, fs[0], rest_now, rest_later) if rest_now or rest_later else None
        )
        item = ReportItem(
            finding=fs[0],
            other_checks=[f.check for f in fs[1:]],
            group=group,
            pending=head not in now,
        )
        (pending_items if item.pending else current_items).append(item)
    current_items.sort(key=_item_key)
    pending_items.sort(key=_item_key)
    return current_items, pending_items


def _workload(owner: str) -> tuple[str, str] | None:
    """("statefulset", name) for an owner "StatefulSet/name" of a stored kind, else None."""
    kind, _, name = owner.partition("/")
    return (kind.lower(), name) if kind.lower() in _KINDS_BY_CAUSE and name else None


def _cause_object(by: str, key: str) -> ObjectKey | None:
    if by == "node":
        return (Kind.NODE, "", key)
    kind = _KINDS_BY_CAUSE.get(by)
    if kind is None:
        return None
    namespace, name = key.split("/", 1)
    return (kind, namespace, name)
