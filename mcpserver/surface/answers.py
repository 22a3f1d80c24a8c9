"""The shapes of the MCP tools' answers: their output schemas, and what structured content holds.

Small on purpose: an assistant pays for every token, so list items carry the
columns that answer "what is wrong and where", and the `get_*` tools carry the
rest. Every answer has `freshness`, so a client can tell a quiet cluster from
an agent that lost its watch. Times are RFC 3339 (UTC); ages are seconds.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "CauseItem",
    "ChangeItem",
    "ClusterHealth",
    "ConditionItem",
    "ContainerItem",
    "DeploymentDetail",
    "DeploymentItem",
    "DeploymentList",
    "FindingGroupItem",
    "FindingItem",
    "Freshness",
    "KindFreshness",
    "MetricSummary",
    "NodeDetail",
    "NodeItem",
    "NodeList",
    "ObjectChanges",
    "PodDetail",
    "PodItem",
    "PodList",
    "QueryAnswer",
    "RecentChanges",
]


class KindFreshness(BaseModel):
    watched: bool = Field(default=True, description="false: this kind is not watched (--kinds)")
    synced: bool = Field(description="this process completed a list of the kind")
    objects: int
    seconds_since_last_event: float | None = Field(
        default=None, description="seconds since the last watch event or list of this kind"
    )
    seconds_since_confirmed: float | None = Field(
        default=None,
        description="seconds since the API server last proved this kind's watch alive "
        "(an event, a bookmark, a list or a watch start)",
    )
    restored_at: str | None = Field(
        default=None,
        description="rows restored from the state file, last confirmed at this time, "
        "and not yet re-listed by this process",
    )
    error: str | None = Field(default=None, description="the informer's current error, if any")
    error_since: str | None = Field(default=None, description="when the current error began")


class Freshness(BaseModel):
    as_of: str = Field(description="when this answer was read from the watch cache")
    stale: bool = Field(
        description="true when some kind is not yet listed by this process (or was restored "
        "from the state file) or its watch reports an error: the answer may differ from a "
        "live LIST"
    )
    kinds: dict[str, KindFreshness]
    reasons: list[str] = Field(default_factory=list, description="why the answer is stale")


class FindingGroupItem(BaseModel):
    by: str = Field(
        description="the shared cause: node (its pods, and deployments short because of them), "
        "deployment (its failing pods) or quota (the deployments it blocks, and their pods)"
    )
    key: str = Field(description="the node's name, namespace/deployment or namespace/quota")
    objects: int = Field(
        description="objects broken now grouped under this finding (besides its own)"
    )
    severity: str = Field(description="the worst severity among the finding and the group")
    by_check: dict[str, int] = Field(description="the grouped objects' worst findings, by check")
    examples: list[str] = Field(description="a few of the pods (namespace/name), worst first")
    deployments: list[str] = Field(
        default_factory=list, description="a few of the deployments (namespace/name)"
    )
    pending: int = Field(
        default=0, description="more objects of this cause, still inside a grace period"
    )
    pending_by_check: dict[str, int] = Field(default_factory=dict)
    pending_examples: list[str] = Field(
        default_factory=list, description="a few of the pending ones (namespace/name)"
    )


class FindingItem(BaseModel):
    severity: str
    check: str = Field(description="stable analyzer id, e.g. pod.crash_loop")
    kind: str
    namespace: str
    name: str
    reason: str
    message: str
    since: str | None = Field(default=None, description="when the problem started")
    for_seconds: float | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    counts_at: str | None = Field(
        default=None,
        description="pending findings only: when it counts as a finding if it lasts "
        "(its grace period ends)",
    )
    other_checks: list[str] = Field(
        default_factory=list, description="the object's other findings (grouped answers)"
    )
    group: FindingGroupItem | None = Field(
        default=None, description="the pods this finding explains (grouped answers)"
    )


class CauseItem(BaseModel):
    """One cause past the page, in a few fields: enough to account for it, not to explain it."""

    severity: str
    check: str
    kind: str
    namespace: str
    name: str
    pending: bool = Field(default=False, description="nothing of it counts yet (grace period)")
    group: FindingGroupItem | None = None


class ClusterHealth(BaseModel):
    freshness: Freshness
    status: str = Field(
        description="ok, warning or critical (the worst current finding); unknown when a "
        "watched kind in scope is stale or not yet listed (see unknown_reasons); no_match "
        "when the filters match no object in the watch cache"
    )
    headline: str = Field(default="", description="the status in one line, as the text starts")
    unknown_reasons: list[str] = Field(
        default_factory=list, description="why the status is unknown"
    )
    total_findings: int = Field(description="current findings (broken now, past any grace period)")
    objects_with_findings: int = Field(default=0, description="objects with a current finding")
    counts_by_severity: dict[str, int]
    counts_by_kind: dict[str, int]
    counts_by_check: dict[str, int]
    findings: list[FindingItem] = Field(
        description="ranked: critical first, then longest broken; grouped by cause unless "
        "group=false"
    )
    truncated: bool
    next_cursor: str | None = Field(default=None, description="pass as cursor for more findings")
    more_causes: list[CauseItem] = Field(
        default_factory=list,
        description="the causes after this page (current, then pending), compact: with the "
        "page they account for every problem object; page with cursor for their details",
    )
    pending_total: int = Field(
        default=0,
        description="objects broken now but inside a grace period, with no current finding "
        "(not yet counted)",
    )
    pending_by_check: dict[str, int] = Field(default_factory=dict)
    pending: list[FindingItem] = Field(
        default_factory=list, description="the first pending findings, with counts_at"
    )
    past_total: int = Field(
        default=0,
        description="objects with past problems (an OOM kill, restarts in the last hour); "
        "listed when include_past=true",
    )
    past_by_check: dict[str, int] = Field(default_factory=dict)
    past: list[FindingItem] = Field(default_factory=list)
    cluster: dict[str, Any] = Field(
        default_factory=dict,
        description="object counts: pods by phase, nodes and deployments by status",
    )


class PodItem(BaseModel):
    namespace: str
    name: str
    status: str = Field(description="kubectl's STATUS column, e.g. CrashLoopBackOff")
    phase: str
    ready: str = Field(description="ready containers / containers, e.g. 1/2")
    restarts: int
    node: str | None = None
    deployment: str | None = None
    age_seconds: float | None = None
    reason: str | None = Field(default=None, description="why it is not healthy, when known")


class PodList(BaseModel):
    freshness: Freshness
    total: int = Field(description="pods matching the filters (all pages)")
    items: list[PodItem]
    next_cursor: str | None = Field(default=None, description="pass as cursor for the next page")


class ContainerItem(BaseModel):
    name: str
    image: str = ""
    init: bool = False
    ready: bool = False
    started: bool = False
    state: str = "waiting"
    restarts: int = 0
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated_reason: str | None = None
    exit_code: int | None = None
    last_terminated_reason: str | None = None
    last_terminated_exit_code: int | None = None
    last_terminated_at: str | None = None
    cpu_request_m: int | None = None
    cpu_limit_m: int | None = None
    memory_request_bytes: int | None = None
    memory_limit_bytes: int | None = None


class ConditionItem(BaseModel):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_transition: str | None = None


class ChangeItem(BaseModel):
    at: str
    kind: str
    namespace: str
    name: str
    field: str = Field(description="what changed, e.g. phase, ready, container/web/waiting_reason")
    old: str | None
    new: str | None
    severity: str
    reason: str = ""
    message: str = ""


class PodDetail(BaseModel):
    freshness: Freshness
    pod: dict[str, Any] = Field(
        description="the pod's status columns (namespace, name, phase, ...)"
    )
    containers: list[ContainerItem]
    conditions: list[ConditionItem]
    findings: list[FindingItem]
    pending_findings: list[FindingItem] = Field(
        default_factory=list, description="broken now but inside a grace period (counts_at)"
    )
    past_findings: list[FindingItem] = Field(
        default_factory=list, description="past problems: an OOM kill, restarts in the last hour"
    )
    recent_changes: list[ChangeItem]
    spec: dict[str, Any] | None = Field(
        default=None, description="the stored pod spec, literal env values redacted"
    )
    redacted_values: int = 0


class DeploymentItem(BaseModel):
    namespace: str
    name: str
    status: str
    replicas: int
    ready: int
    available: int
    updated: int
    unavailable: int
    rollout_in_progress: bool
    age_seconds: float | None = None
    reason: str | None = None


class DeploymentList(BaseModel):
    freshness: Freshness
    total: int
    items: list[DeploymentItem]
    next_cursor: str | None = None


class DeploymentDetail(BaseModel):
    freshness: Freshness
    deployment: dict[str, Any]
    conditions: list[ConditionItem]
    findings: list[FindingItem]
    pending_findings: list[FindingItem] = Field(
        default_factory=list, description="broken now but inside a grace period (counts_at)"
    )
    pods_total: int
    pods: list[PodItem] = Field(description="its pods, problems first (bounded)")
    recent_changes: list[ChangeItem]


class NodeItem(BaseModel):
    name: str
    status: str
    ready: str
    unschedulable: bool
    roles: list[str]
    pods: int
    cpu_requested_m: int
    cpu_allocatable_m: int
    memory_requested_bytes: int
    memory_allocatable_bytes: int
    problems: list[str] = Field(default_factory=list, description="conditions that are not healthy")


class NodeList(BaseModel):
    freshness: Freshness
    total: int
    items: list[NodeItem]
    next_cursor: str | None = None


class NodeDetail(BaseModel):
    freshness: Freshness
    node: dict[str, Any]
    conditions: list[ConditionItem]
    taints: list[dict[str, Any]]
    capacity: dict[str, int]
    allocatable: dict[str, int]
    requested: dict[str, int] = Field(description="sums over the node's non-terminated pods")
    cpu_requested_pct_of_allocatable: float | None = Field(
        description="CPU requested by its pods ÷ allocatable CPU, in % (over 100: overcommitted)"
    )
    memory_requested_pct_of_allocatable: float | None = Field(
        description="memory requested by its pods ÷ allocatable memory, in %"
    )
    pods_pct_of_allocatable: float | None = Field(description="its pods ÷ allocatable pods, in %")
    findings: list[FindingItem]
    pending_findings: list[FindingItem] = Field(
        default_factory=list, description="broken now but inside a grace period (counts_at)"
    )
    pods_total: int
    pods: list[PodItem] = Field(description="pods on the node, problems first (bounded)")
    recent_changes: list[ChangeItem]


class ObjectChanges(BaseModel):
    kind: str
    namespace: str
    name: str
    changes: int = Field(description="changes of this object in the window")
    first_at: str
    last_at: str
    worst_severity: str
    fields: list[str] = Field(description="the fields that changed")
    latest: ChangeItem = Field(description="its latest change (field: old -> new)")


class RecentChanges(BaseModel):
    freshness: Freshness
    since: str
    total: int | None = Field(
        default=None, description="changes matching in the whole window (all pages)"
    )
    objects: int = Field(default=0, description="distinct objects that changed in the window")
    by_kind: dict[str, int] = Field(default_factory=dict)
    by_severity: dict[str, int] = Field(default_factory=dict)
    by_field: dict[str, int] = Field(
        default_factory=dict, description="container fields as container/*/<field>"
    )
    by_object: list[ObjectChanges] = Field(
        default_factory=list,
        description="the objects that changed, worst and most recent first (bounded)",
    )
    items: list[ChangeItem] = Field(description="the detailed changes, newest first (paged)")
    next_cursor: str | None = None


class MetricSummary(BaseModel):
    freshness: Freshness
    by: str = Field(description="namespace, node or deployment")
    sort: str
    groups_total: int = Field(description="how many groups exist; `groups` holds the top ones")
    cluster: dict[str, Any] = Field(description="cluster-wide pod totals")
    groups: list[dict[str, Any]] = Field(
        description="per group: pods, ready, restarts (counters now), restarts_last_hour "
        "(events), phases, statuses, cpu/memory requests and limits; nodes add allocatable and "
        "cpu_/memory_requested_pct (requested ÷ allocatable, %)"
    )


class QueryAnswer(BaseModel):
    freshness: Freshness
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool = Field(description="more rows matched than the row cap")
    elapsed_ms: float
