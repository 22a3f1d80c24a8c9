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
    "ObjectDetail",
    "ObjectList",
    "PodDetail",
    "PodItem",
    "PodList",
    "QueryAnswer",
    "RecentChanges",
]


class KindFreshness(BaseModel):
    # Every tool's output schema repeats this model: its descriptions are kept short.
    watched: bool = True
    synced: bool = Field(description="listed by this process")
    objects: int
    seconds_since_last_event: float | None = None
    seconds_since_confirmed: float | None = Field(
        default=None, description="since the watch last proved alive (event, bookmark, list)"
    )
    restored_at: str | None = Field(
        default=None, description="restored from the state file, not yet re-listed"
    )
    error: str | None = None
    error_since: str | None = None


class Freshness(BaseModel):
    as_of: str = Field(description="when the cache was read")
    stale: bool = Field(description="true: the answer may differ from a live LIST (reasons)")
    kinds: dict[str, KindFreshness]
    reasons: list[str] = Field(default_factory=list)


class FindingGroupItem(BaseModel):
    by: str = Field(
        description="node (its pods, and workloads short because of them), a workload kind "
        "(deployment, statefulset...: its failing pods) or quota (what it blocks)"
    )
    key: str = Field(description="node, namespace/deployment or namespace/quota")
    objects: int = Field(description="objects broken now grouped here (besides its own)")
    severity: str = Field(description="the worst in the group")
    by_check: dict[str, int]
    examples: list[str] = Field(description="a few pods, worst first")
    deployments: list[str] = Field(default_factory=list)
    pending: int = Field(default=0, description="more, still inside a grace period")
    pending_by_check: dict[str, int] = Field(default_factory=dict)
    pending_examples: list[str] = Field(default_factory=list)


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
        default=None, description="pending only: when it counts if it lasts"
    )
    other_checks: list[str] = Field(default_factory=list, description="the object's others")
    group: FindingGroupItem | None = Field(default=None, description="what this explains")


class CauseItem(BaseModel):
    severity: str
    check: str
    kind: str
    namespace: str
    name: str
    pending: bool = Field(default=False, description="inside its grace period")
    group: FindingGroupItem | None = None


class ClusterHealth(BaseModel):
    freshness: Freshness
    status: str = Field(
        description="ok, warning, critical (the worst finding); unknown: a kind in scope is "
        "stale or unlisted (unknown_reasons); no_match: the filters match nothing"
    )
    headline: str = Field(default="", description="the status in one line")
    unknown_reasons: list[str] = Field(default_factory=list)
    total_findings: int = Field(description="broken now, past any grace period")
    objects_with_findings: int = 0
    counts_by_severity: dict[str, int]
    counts_by_kind: dict[str, int]
    counts_by_check: dict[str, int]
    findings: list[FindingItem] = Field(description="critical first, then longest broken")
    truncated: bool
    next_cursor: str | None = Field(default=None, description="pass as cursor for more")
    more_causes: list[CauseItem] = Field(
        default_factory=list,
        description="every cause after this page, compact (details: next page)",
    )
    pending_total: int = Field(
        default=0, description="objects broken now but inside a grace period (not counted)"
    )
    pending_by_check: dict[str, int] = Field(default_factory=dict)
    pending: list[FindingItem] = Field(default_factory=list)
    past_total: int = Field(
        default=0, description="objects with past problems (OOM kill, restarts): include_past"
    )
    past_by_check: dict[str, int] = Field(default_factory=dict)
    past: list[FindingItem] = Field(default_factory=list)
    cluster: dict[str, Any] = Field(default_factory=dict, description="object counts")


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
    field: str = Field(description="e.g. phase, ready, container/web/waiting_reason")
    old: str | None
    new: str | None
    severity: str
    reason: str = ""
    message: str = ""


class PodDetail(BaseModel):
    freshness: Freshness
    pod: dict[str, Any] = Field(description="its status columns")
    containers: list[ContainerItem]
    conditions: list[ConditionItem]
    findings: list[FindingItem]
    pending_findings: list[FindingItem] = Field(
        default_factory=list, description="broken now but inside a grace period (counts_at)"
    )
    past_findings: list[FindingItem] = Field(
        default_factory=list, description="OOM kills, restarts in the last hour"
    )
    recent_changes: list[ChangeItem]
    spec: dict[str, Any] | None = Field(
        default=None, description="the pod spec, env values redacted"
    )
    redacted_values: int = 0


class ObjectList(BaseModel):
    freshness: Freshness
    kind: str
    total: int
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class ObjectDetail(BaseModel):
    freshness: Freshness
    kind: str
    # Its parts are shaped as in the kind-specific answers (get_pod, ...), unpublished.
    object: dict[str, Any]
    conditions: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    pending_findings: list[dict[str, Any]] = Field(default_factory=list)
    pods_total: int = 0
    pods: list[dict[str, Any]] = Field(default_factory=list, description="problems first")
    recent_changes: list[dict[str, Any]]


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
        description="pods' CPU requests ÷ allocatable, % (over 100: overcommitted)"
    )
    memory_requested_pct_of_allocatable: float | None = Field(
        description="pods' memory requests ÷ allocatable, %"
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
    changes: int = Field(description="in the window")
    first_at: str
    last_at: str
    worst_severity: str
    fields: list[str] = Field(description="the fields that changed")
    latest: ChangeItem = Field(description="its latest change (field: old -> new)")


class RecentChanges(BaseModel):
    freshness: Freshness
    since: str
    total: int | None = Field(default=None, description="matching changes, all pages")
    objects: int = Field(default=0, description="distinct objects changed")
    by_kind: dict[str, int] = Field(default_factory=dict)
    by_severity: dict[str, int] = Field(default_factory=dict)
    by_field: dict[str, int] = Field(
        default_factory=dict, description="container fields as container/*/<field>"
    )
    by_object: list[ObjectChanges] = Field(
        default_factory=list,
        description="changed objects, worst and newest first (bounded)",
    )
    items: list[ChangeItem] = Field(description="the detailed changes, newest first (paged)")
    next_cursor: str | None = None


class MetricSummary(BaseModel):
    freshness: Freshness
    by: str = Field(description="namespace, node or deployment")
    sort: str
    groups_total: int = Field(description="all groups; `groups` has the top ones")
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
