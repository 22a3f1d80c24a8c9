"""The vocabulary every kind module speaks: severities, conditions, findings, changes.

A kind module describes its objects with these types, and the generic
machinery (the store's transitions and health, the MCP answers, the
exporter) reads them without knowing the kind. They sit at the bottom of the
package graph: they import nothing of the agent's.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from kinds.names import Kind

__all__ = [
    "Candidate",
    "Change",
    "Condition",
    "ConditionTable",
    "Finding",
    "HealthSettings",
    "Severity",
    "Taint",
    "age_seconds",
    "condition_severity",
    "condition_since",
    "condition_status",
    "replicas_severity",
    "timestamp",
]


class Severity(enum.StrEnum):
    """How much a transition or a health finding matters, in rising order."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Condition(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One entry of `status.conditions`, as the analyzers need it."""

    status: str  # "True" | "False" | "Unknown"
    reason: str | None = None
    message: str | None = None
    last_transition: str | None = None  # RFC 3339, as the API gives it


class Taint(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    key: str
    effect: str
    value: str | None = None


class Change(NamedTuple):
    """One changed status field; the store stamps time and identity to make a Transition."""

    field: str
    old: str | None
    new: str | None
    severity: Severity
    reason: str
    message: str


class HealthSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds of the health analyzers (each kind's `analyzers`).

    Ages are in seconds and say how long a condition must last before it is a
    finding: a pod is Pending for a few seconds on every start, which is not a
    problem, while one Pending for ten minutes is.
    """

    pending_after_s: float = 300.0
    not_ready_after_s: float = 300.0
    terminating_after_s: float = 600.0
    deployment_unavailable_after_s: float = 300.0
    zero_available_after_s: float = 60.0
    rollout_stuck_after_s: float = 900.0
    node_not_ready_after_s: float = 0.0
    # A container OOM-killed this recently is reported even if it runs again.
    oom_window_s: float = 3600.0
    # "Restarts rising": at least this many restarts within the window, from history.
    restarts_window_s: float = 3600.0
    restarts_rising_min: int = 3


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
    # A pod's controller when it is not a ReplicaSet, as "Kind/name" ("StatefulSet/redis"):
    # the workload its finding is grouped under.
    owner: str | None = None
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


def timestamp(value: str | None) -> float | None:
    """RFC 3339 as the API writes it -> unix seconds; None when absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def condition_status(conditions: dict[str, Condition], name: str) -> str | None:
    """A condition's status ("True", "False", "Unknown"), None when the object lacks it."""
    c = conditions.get(name)
    return c.status if c is not None else None


def condition_since(conditions: dict[str, Condition], name: str) -> float | None:
    """When a condition last changed status, from its lastTransitionTime."""
    cond = conditions.get(name)
    return timestamp(cond.last_transition) if cond else None


def age_seconds(created_at: str | None, now: float) -> float | None:
    """An object's age from its creationTimestamp, rounded for answers."""
    created = timestamp(created_at)
    return round(now - created, 1) if created is not None else None


# condition name -> (the statuses that are bad, how bad)
ConditionTable = dict[str, tuple[frozenset[str], Severity]]


def condition_severity(table: ConditionTable, condition: str, status: str | None) -> Severity:
    """Severity of a condition's status, by the kind's table of bad statuses."""
    bad = table.get(condition)
    if bad is None or status is None:
        return Severity.INFO
    return bad[1] if status in bad[0] else Severity.INFO


def replicas_severity(value: str | None) -> Severity:
    """`"ready/desired"`: none of several is critical, some missing a warning."""
    if value is None:
        return Severity.INFO
    have, _, want = value.partition("/")
    h, w = int(have), int(want)
    if w > 0 and h == 0:
        return Severity.CRITICAL
    return Severity.WARNING if h < w else Severity.INFO
