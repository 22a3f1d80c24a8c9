"""The metric families /metrics exports about the cluster: names, types, help, label names.

`KSM` holds the kube-state-metrics families, spelled exactly as
kube-state-metrics v2 prints them (help text with its `[STABLE]` marker
included, label names in its order), so that dashboards and alert rules
written for it work unchanged. `SUMMARY` holds the bounded per-namespace and
per-node aggregates of summary mode, under our own prefix: they are not
kube-state-metrics' and must not pretend to be.

Each family renders its own `# HELP`/`# TYPE` header in either exposition
format: the formats differ only for counters, whose OpenMetrics family name
drops the `_total` suffix that their samples keep.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal

from kinds import KINDS
from mcpserver.config import LABELS_RESOURCES, LabelsAllowlist, parse_labels_allowlist
from mcpserver.ksm.textformat import escape

__all__ = [
    "KSM",
    "LABELS_FAMILIES",
    "MODE",
    "SUMMARY",
    "Family",
    "LabelsAllowlist",
    "LabelsFilter",
    "labels_line",
    "parse_labels_allowlist",
]

MetricType = Literal["gauge", "counter"]


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]

    def header(self, *, openmetrics: bool) -> str:
        name = self.name
        if openmetrics and self.type == "counter" and name.endswith("_total"):
            name = name[: -len("_total")]
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        if openmetrics:
            help_text = help_text.replace('"', '\\"')
        return f"# HELP {name} {help_text}\n# TYPE {name} {self.type}\n"


def _family(name: str, type_: MetricType, help_text: str, labels: tuple[str, ...]) -> Family:
    return Family(name, type_, help_text, labels)


# kube-state-metrics' families, as each kind module declares them (`KindSpec.metric_families`).
_KSM_FAMILIES = tuple(
    _family(f.name, f.type, f.help, f.labels)  # type: ignore[arg-type]
    for spec in KINDS.values()
    for f in spec.metric_families
)

KSM: dict[str, Family] = {f.name: f for f in _KSM_FAMILIES}

_NS = ("namespace",)
_RESOURCE = ("resource", "unit")

_SUMMARY_FAMILIES = (
    _family(
        "kube_watchcache_namespace_pods",
        "gauge",
        "Pods per namespace and phase.",
        (*_NS, "phase"),
    ),
    _family(
        "kube_watchcache_namespace_pods_ready",
        "gauge",
        "Pods per namespace whose Ready condition is True.",
        _NS,
    ),
    _family(
        "kube_watchcache_namespace_pods_by_status",
        "gauge",
        "Pods per namespace and kubectl STATUS (Running, CrashLoopBackOff, Terminating...).",
        (*_NS, "status"),
    ),
    _family(
        "kube_watchcache_namespace_container_restarts",
        "gauge",
        "Sum of the restart counts of the app containers of the namespace's current pods.",
        _NS,
    ),
    _family(
        "kube_watchcache_namespace_resource_requests",
        "gauge",
        "Resources requested by the namespace's non-terminated pods (cpu in cores, memory in "
        "bytes).",
        (*_NS, *_RESOURCE),
    ),
    _family(
        "kube_watchcache_namespace_resource_limits",
        "gauge",
        "Resource limits of the namespace's non-terminated pods (cpu in cores, memory in bytes).",
        (*_NS, *_RESOURCE),
    ),
    _family(
        "kube_watchcache_namespace_deployments",
        "gauge",
        "Deployments per namespace and derived status (Available, Progressing, Unavailable...).",
        (*_NS, "status"),
    ),
    _family(
        "kube_watchcache_namespace_deployment_replicas",
        "gauge",
        "Replicas of the namespace's deployments summed by state (desired, ready, available, "
        "updated, unavailable).",
        (*_NS, "state"),
    ),
    _family(
        "kube_watchcache_node_pods",
        "gauge",
        "Pods bound to the node, per phase.",
        ("node", "phase"),
    ),
    _family(
        "kube_watchcache_node_resource_requests",
        "gauge",
        "Resources requested by the node's non-terminated pods (cpu in cores, memory in bytes).",
        ("node", *_RESOURCE),
    ),
    _family(
        "kube_watchcache_node_resource_limits",
        "gauge",
        "Resource limits of the node's non-terminated pods (cpu in cores, memory in bytes).",
        ("node", *_RESOURCE),
    ),
    _family(
        "kube_watchcache_node_allocatable",
        "gauge",
        "The node's allocatable cpu (cores), memory (bytes) and pods.",
        ("node", *_RESOURCE),
    ),
    _family(
        "kube_watchcache_node_ready",
        "gauge",
        "The status of the node's Ready condition (true, false, unknown) as a label; always 1.",
        ("node", "status"),
    ),
    _family(
        "kube_watchcache_node_unschedulable",
        "gauge",
        "Whether the node is cordoned (spec.unschedulable).",
        ("node",),
    ),
)

SUMMARY: dict[str, Family] = {f.name: f for f in _SUMMARY_FAMILIES}

MODE = _family(
    "kube_watchcache_metrics_cluster_mode",
    "gauge",
    "Which cluster gauges this scrape carries: objects (kube-state-metrics families, one series "
    "per object) or summary (bounded per-namespace and per-node aggregates).",
    ("mode",),
)


# --- `*_labels`: which Kubernetes labels become Prometheus labels -----------------------------

# The resources `--metric-labels-allowlist` names, as kube-state-metrics spells them.
LABELS_FAMILIES = {resource: f"kube_{kind}_labels" for resource, kind in LABELS_RESOURCES.items()}
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


class LabelsFilter:
    """Which of an object's Kubernetes labels its `*_labels` series carries, as KSM picks them.

    `keys`: the allow-list's entries for the resource — exact keys, `*` (every
    label, when first, as kube-state-metrics reads it) or patterns with `*`.
    """

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.every = bool(keys) and keys[0] == "*"
        self.exact = frozenset(k for k in keys if "*" not in k)
        patterns = [k for k in keys if "*" in k and k != "*"]
        self.pattern = (
            re.compile("|".join(".*".join(map(re.escape, p.split("*"))) for p in patterns))
            if patterns
            else None
        )

    def allows(self, key: str) -> bool:
        if self.every or key in self.exact:
            return True
        return self.pattern is not None and self.pattern.fullmatch(key) is not None

    def pairs(self, labels: tuple[tuple[str, str], ...]) -> str:
        """The `,label_<key>="value"` text of the allowed labels, sorted by key as KSM prints."""
        return "".join(
            f',label_{_INVALID_LABEL_CHARS.sub("_", k)}="{escape(v)}"'
            for k, v in labels
            if self.allows(k)
        )


def labels_line(
    metric: str, identity: str, labels: tuple[tuple[str, str], ...], allow: LabelsFilter | None
) -> str:
    """One object's `*_labels` line; none when the allow-list does not name its resource."""
    if allow is None:
        return ""
    return f"{metric}{{{identity}{allow.pairs(labels)}}} 1\n"
