"""Deployments: decoding, the row, its tracked status, analyzers, answers and metrics.

kubectl prints no STATUS column for deployments (READY, UP-TO-DATE, AVAILABLE),
so the derived `status` is ours. It names the one thing an operator should
look at first, checked in this order (the first match wins):

- `ProgressDeadlineExceeded`: Progressing=False with that reason; the rollout
  is stuck (what `kubectl rollout status` fails with).
- `ReplicaFailure`: ReplicaFailure=True; pods cannot be created (quota,
  admission webhooks, ...).
- `Paused`: spec.paused; nothing will progress until resumed.
- `Progressing`: a rollout is under way, as `rollout_progressing`
  defines it (the one definition the history, the health findings and the
  MCP answers share). A pod that dies after the rollout completed is not a
  rollout: that is `Degraded` or `Unavailable`.
- `Unavailable`: Available=False (below the minimum availability), or no
  replica available while some are desired and the condition is missing.
- `Degraded`: available, but fewer available replicas than desired.
- `Available`: everything desired is available (also when scaled to zero).
"""

from __future__ import annotations

import sys
from typing import Any, Final, NamedTuple

import msgspec

from kinds.common import (
    Candidate,
    Condition,
    Finding,
    HealthSettings,
    Severity,
    age_seconds,
    condition_severity,
    condition_since,
    condition_status,
    replicas_severity,
    timestamp,
)
from kinds.meta import ConditionIn, KubeObject, Resource, conditions_by_type, encode_object
from kinds.names import Kind
from kinds.redaction import redact_workload
from kinds.spec import KindSpec, MetricFamily, Signature

__all__ = [
    "CONDITION_BAD",
    "METRIC_FAMILIES",
    "RESOURCE",
    "SPEC",
    "DeploymentRow",
    "DeploymentSpec",
    "DeploymentState",
    "DeploymentStatus",
    "deployment_rollout",
    "deployment_status",
    "item",
    "normalize",
    "rollout_in_progress",
    "rollout_progressing",
]


class DeploymentRow(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    uid: str
    namespace: str
    name: str
    resource_version: str
    created_at: str | None = None
    labels: dict[str, str] = {}
    selector: dict[str, str] = {}  # spec.selector.matchLabels
    generation: int = 0
    observed_generation: int = 0
    paused: bool = False
    strategy: str | None = None
    replicas: int = 0  # spec.replicas (desired)
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    unavailable_replicas: int = 0
    status_replicas: int = 0  # status.replicas
    conditions: dict[str, Condition] = {}  # Available, Progressing, ReplicaFailure
    status: str = "Available"  # derived: Available, Progressing, Unavailable, ...
    obj: bytes = b"{}"


CONDITION_BAD: Final[dict[str, tuple[frozenset[str], Severity]]] = {
    "Available": (frozenset({"False"}), Severity.CRITICAL),
    "Progressing": (frozenset({"False"}), Severity.WARNING),
    "ReplicaFailure": (frozenset({"True"}), Severity.CRITICAL),
}


def rollout_progressing(
    *,
    generation: int,
    observed_generation: int,
    replicas: int,
    status_replicas: int,
    updated_replicas: int,
    available_replicas: int,
    progressing_reason: str | None,
) -> bool:
    """Whether a rollout is under way: the one definition every answer and status uses.

    `kubectl rollout status`'s rules: the controller has not observed the
    latest generation, fewer updated replicas than desired, old replicas still
    around, or updated replicas not all available. The last one only while the
    rollout is still going (Progressing reason other than NewReplicaSetAvailable):
    a pod that dies after the rollout completed is not a rollout but an
    unavailable replica, which `store.health` reports as such.
    """
    return (
        observed_generation < generation
        or updated_replicas < replicas
        or status_replicas > updated_replicas
        or (
            available_replicas < updated_replicas and progressing_reason != "NewReplicaSetAvailable"
        )
    )


def deployment_rollout(row: DeploymentRow) -> str:
    """The rollout in one word: `paused`, `progressing` (`rollout_progressing`), `complete`."""
    if row.paused:
        return "paused"
    progressing = row.conditions.get("Progressing")
    if rollout_progressing(
        generation=row.generation,
        observed_generation=row.observed_generation,
        replicas=row.replicas,
        status_replicas=row.status_replicas,
        updated_replicas=row.updated_replicas,
        available_replicas=row.available_replicas,
        progressing_reason=progressing.reason if progressing is not None else None,
    ):
        return "progressing"
    return "complete"


RESOURCE = Resource(
    kind="Deployment", plural="deployments", group_version="apps/v1", namespaced=True
)


class LabelSelector(msgspec.Struct, gc=False, rename="camel"):
    match_labels: dict[str, str] = {}


class Strategy(msgspec.Struct, gc=False):
    type: str | None = None


class DeploymentSpec(msgspec.Struct, gc=False):
    # The API server defaults replicas to 1; an absent field means the same.
    replicas: int = 1
    selector: LabelSelector | None = None
    paused: bool = False
    strategy: Strategy | None = None


class DeploymentStatus(msgspec.Struct, gc=False, rename="camel"):
    observed_generation: int = 0
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    unavailable_replicas: int = 0
    conditions: list[ConditionIn] = []


_spec_decoder = msgspec.json.Decoder(DeploymentSpec)
_status_decoder = msgspec.json.Decoder(DeploymentStatus)


def deployment_status(
    *,
    generation: int,
    spec: DeploymentSpec,
    status: DeploymentStatus,
    conditions: dict[str, Condition],
) -> str:
    """The derived status; the order of checks is documented in the module docstring."""
    progressing = conditions.get("Progressing")
    if (
        progressing is not None
        and progressing.status == "False"
        and progressing.reason == "ProgressDeadlineExceeded"
    ):
        return "ProgressDeadlineExceeded"
    failure = conditions.get("ReplicaFailure")
    if failure is not None and failure.status == "True":
        return "ReplicaFailure"
    if spec.paused:
        return "Paused"
    if rollout_progressing(
        generation=generation,
        observed_generation=status.observed_generation,
        replicas=spec.replicas,
        status_replicas=status.replicas,
        updated_replicas=status.updated_replicas,
        available_replicas=status.available_replicas,
        progressing_reason=progressing.reason if progressing is not None else None,
    ):
        return "Progressing"
    available = conditions.get("Available")
    if available is not None and available.status == "False":
        return "Unavailable"
    if available is None and spec.replicas > 0 and status.available_replicas == 0:
        return "Unavailable"
    if status.available_replicas < spec.replicas:
        return "Degraded"
    return "Available"


def normalize(obj: KubeObject, *, reveal_env_values: bool = False) -> DeploymentRow:
    """The store row for one deployment; its pod template's literal env values redacted
    unless revealed (see kinds.redaction)."""
    meta = obj.metadata
    spec = _spec_decoder.decode(obj.spec) if obj.spec else DeploymentSpec()
    status = _status_decoder.decode(obj.status) if obj.status else DeploymentStatus()
    conditions = conditions_by_type(status.conditions)
    generation = meta.generation or 0
    if not reveal_env_values:
        redact_workload(obj)
    return DeploymentRow(
        uid=meta.uid,
        namespace=meta.namespace or "",
        name=meta.name,
        resource_version=meta.resource_version,
        created_at=meta.creation_timestamp,
        labels=meta.labels or {},
        selector=spec.selector.match_labels if spec.selector else {},
        generation=generation,
        observed_generation=status.observed_generation,
        paused=spec.paused,
        strategy=spec.strategy.type if spec.strategy else None,
        replicas=spec.replicas,
        ready_replicas=status.ready_replicas,
        available_replicas=status.available_replicas,
        updated_replicas=status.updated_replicas,
        unavailable_replicas=status.unavailable_replicas,
        status_replicas=status.replicas,
        conditions=conditions,
        status=deployment_status(
            generation=generation, spec=spec, status=status, conditions=conditions
        ),
        obj=encode_object(obj, RESOURCE),
    )


_CONDITIONS = ("Available", "Progressing", "ReplicaFailure")


def signature(row: DeploymentRow) -> Signature:
    """The tracked status: the three conditions, replica counts against desired, the rollout."""
    conds = row.conditions
    want = row.replicas
    return (
        condition_status(conds, "Available"),
        condition_status(conds, "Progressing"),
        condition_status(conds, "ReplicaFailure"),
        f"{row.ready_replicas}/{want}",
        f"{row.available_replicas}/{want}",
        f"{row.updated_replicas}/{want}",
        deployment_rollout(row),
    )


def fields(sig: Signature) -> dict[str, str | None]:
    out: dict[str, str | None] = {f"condition/{c}": sig[i] for i, c in enumerate(_CONDITIONS)}
    out["replicas/ready"] = sig[3]
    out["replicas/available"] = sig[4]
    out["replicas/updated"] = sig[5]
    out["rollout"] = sig[6]
    return out


def severity(field: str, value: str | None, sig: Signature) -> Severity:
    if field.startswith("condition/"):
        return condition_severity(CONDITION_BAD, field[len("condition/") :], value)
    if field in ("replicas/ready", "replicas/available"):
        return replicas_severity(value)
    return Severity.INFO


def explain(field: str, value: str | None, row: DeploymentRow) -> tuple[str, str]:
    """A condition's own reason and message; nothing for the counts."""
    if field.startswith("condition/"):
        cond = row.conditions.get(field[len("condition/") :])
        return (cond.reason or "", cond.message or "") if cond else ("", "")
    return "", ""


# --- health -----


def _deployment_finding(
    row: DeploymentRow, check: str, severity: Severity, reason: str, message: str, **kw: Any
) -> Finding:
    return Finding(
        check=check,
        severity=severity,
        kind=Kind.DEPLOYMENT,
        namespace=row.namespace,
        name=row.name,
        uid=row.uid,
        reason=reason,
        message=message,
        **kw,
    )


def _replicas(row: DeploymentRow) -> dict[str, int]:
    return {
        "desired": row.replicas,
        "ready": row.ready_replicas,
        "available": row.available_replicas,
        "updated": row.updated_replicas,
        "unavailable": row.unavailable_replicas,
    }


def deployment_unavailable(row: DeploymentRow, settings: HealthSettings) -> Candidate | None:
    """Some (not all) desired replicas unavailable past `deployment_unavailable_after_s`."""
    missing = max(row.unavailable_replicas, row.replicas - row.available_replicas)
    if row.replicas <= 0 or missing <= 0 or row.available_replicas == 0:
        return None
    since = (
        condition_since(row.conditions, "Available")
        if row.conditions.get("Available") and row.conditions["Available"].status == "False"
        else None
    )
    finding = _deployment_finding(
        row,
        "deployment.unavailable",
        Severity.WARNING,
        "MinimumReplicasUnavailable" if since else "ReplicasUnavailable",
        f"{missing} of {row.replicas} replicas unavailable",
        since=since,
        evidence=_replicas(row),
    )
    return Candidate(
        finding,
        min_age_s=settings.deployment_unavailable_after_s,
        field="replicas/available",
        has_own_since=since is not None,
    )


def deployment_zero_available(row: DeploymentRow, settings: HealthSettings) -> Candidate | None:
    """Replicas are wanted and none is available: the workload is down."""
    if row.replicas <= 0 or row.available_replicas > 0:
        return None
    finding = _deployment_finding(
        row,
        "deployment.zero_available",
        Severity.CRITICAL,
        "NoReplicasAvailable",
        f"0 of {row.replicas} replicas available",
        evidence=_replicas(row),
    )
    return Candidate(finding, min_age_s=settings.zero_available_after_s, field="replicas/available")


def deployment_progress_deadline(row: DeploymentRow, settings: HealthSettings) -> Candidate | None:
    """Progressing=False: the rollout exceeded progressDeadlineSeconds."""
    cond = row.conditions.get("Progressing")
    if cond is None or cond.status != "False":
        return None
    since = timestamp(cond.last_transition)
    finding = _deployment_finding(
        row,
        "deployment.progress_deadline",
        Severity.WARNING,
        cond.reason or "ProgressDeadlineExceeded",
        cond.message or "rollout exceeded its progress deadline",
        since=since,
        evidence=_replicas(row),
    )
    return Candidate(finding, field="condition/Progressing", has_own_since=since is not None)


def deployment_replica_failure(row: DeploymentRow, settings: HealthSettings) -> Candidate | None:
    """ReplicaFailure=True: the ReplicaSet cannot create pods (quota, admission...)."""
    cond = row.conditions.get("ReplicaFailure")
    if cond is None or cond.status != "True":
        return None
    since = timestamp(cond.last_transition)
    finding = _deployment_finding(
        row,
        "deployment.replica_failure",
        Severity.CRITICAL,
        cond.reason or "ReplicaFailure",
        cond.message or "replicas cannot be created",
        since=since,
        evidence=_replicas(row),
    )
    return Candidate(finding, field="condition/ReplicaFailure", has_own_since=since is not None)


def deployment_rollout_stuck(row: DeploymentRow, settings: HealthSettings) -> Candidate | None:
    """A rollout unfinished after `rollout_stuck_after_s` (see `rollout_progressing`)."""
    if deployment_rollout(row) != "progressing":
        return None
    behind = row.observed_generation < row.generation
    message = (
        f"generation {row.generation} not yet observed (observed {row.observed_generation})"
        if behind
        else f"{row.updated_replicas} of {row.replicas} replicas updated"
    )
    finding = _deployment_finding(
        row,
        "deployment.rollout_stuck",
        Severity.WARNING,
        "RolloutStuck",
        message,
        evidence={
            **_replicas(row),
            "generation": row.generation,
            "observed_generation": row.observed_generation,
        },
    )
    return Candidate(finding, min_age_s=settings.rollout_stuck_after_s, field="rollout")


def deployment_paused(row: DeploymentRow, settings: HealthSettings) -> Candidate | None:
    """A paused rollout: intentional, but changes to the template are not applied."""
    if not row.paused:
        return None
    finding = _deployment_finding(
        row,
        "deployment.paused",
        Severity.INFO,
        "DeploymentPaused",
        "rollout is paused; template changes are not rolled out",
        evidence={"rollout": deployment_rollout(row)},
    )
    return Candidate(finding, field="rollout")


# --- answers ---


def rollout_in_progress(row: DeploymentRow) -> bool:
    """The one definition (`rollout_progressing`); a paused rollout is not in progress."""
    return deployment_rollout(row) == "progressing"


def item(row: DeploymentRow, now: float) -> dict[str, Any]:
    """One line of a deployment list."""
    reason = None
    for name in ("ReplicaFailure", "Progressing", "Available"):
        cond = row.conditions.get(name)
        if cond is None:
            continue
        bad = cond.status == "True" if name == "ReplicaFailure" else cond.status != "True"
        if name == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
            bad = True
        if bad:
            reason = f"{name}: {cond.reason or cond.status}"
            break
    return {
        "namespace": row.namespace,
        "name": row.name,
        "status": row.status,
        "replicas": row.replicas,
        "ready": row.ready_replicas,
        "available": row.available_replicas,
        "updated": row.updated_replicas,
        "unavailable": row.unavailable_replicas,
        "rollout_in_progress": rollout_in_progress(row),
        "age_seconds": age_seconds(row.created_at, now),
        "reason": reason,
    }


_LABELS = ("namespace", "deployment")

METRIC_FAMILIES: Final = (
    MetricFamily(
        "kube_deployment_spec_replicas",
        "gauge",
        "[STABLE] Number of desired pods for a deployment.",
        _LABELS,
    ),
    MetricFamily(
        "kube_deployment_status_replicas",
        "gauge",
        "[STABLE] The number of replicas per deployment.",
        _LABELS,
    ),
    MetricFamily(
        "kube_deployment_status_replicas_ready",
        "gauge",
        "[STABLE] The number of ready replicas per deployment.",
        _LABELS,
    ),
    MetricFamily(
        "kube_deployment_status_replicas_available",
        "gauge",
        "[STABLE] The number of available replicas per deployment.",
        _LABELS,
    ),
    MetricFamily(
        "kube_deployment_status_replicas_unavailable",
        "gauge",
        "[STABLE] The number of unavailable replicas per deployment.",
        _LABELS,
    ),
    MetricFamily(
        "kube_deployment_status_replicas_updated",
        "gauge",
        "[STABLE] The number of updated replicas per deployment.",
        _LABELS,
    ),
    MetricFamily(
        "kube_deployment_status_condition",
        "gauge",
        "[STABLE] The current status conditions of a deployment.",
        (*_LABELS, "reason", "condition", "status"),
    ),
    MetricFamily(
        "kube_deployment_status_observed_generation",
        "gauge",
        "[STABLE] The generation observed by the deployment controller.",
        _LABELS,
    ),
    MetricFamily(
        "kube_deployment_metadata_generation",
        "gauge",
        "[STABLE] Sequence number representing a specific generation of the desired state.",
        _LABELS,
    ),
    MetricFamily(
        "kube_deployment_spec_paused",
        "gauge",
        "[STABLE] Whether the deployment is paused and will not be processed by the deployment "
        "controller.",
        _LABELS,
    ),
    MetricFamily(
        "kube_deployment_spec_strategy_rollingupdate_max_unavailable",
        "gauge",
        "[STABLE] Maximum number of unavailable replicas during a rolling update of a deployment.",
        _LABELS,
    ),
    MetricFamily(
        "kube_deployment_spec_strategy_rollingupdate_max_surge",
        "gauge",
        "[STABLE] Maximum number of replicas that can be scheduled above the desired number of "
        "replicas during a rolling update of a deployment.",
        _LABELS,
    ),
    MetricFamily("kube_deployment_created", "gauge", "[STABLE] Unix creation timestamp", _LABELS),
    # One series per deployment; a `label_<key>` per allow-listed label after these.
    MetricFamily(
        "kube_deployment_labels",
        "gauge",
        "[STABLE] Kubernetes labels converted to Prometheus labels.",
        _LABELS,
    ),
)


class DeploymentState(NamedTuple):
    namespace: str
    name: str
    replicas: int
    ready_replicas: int
    available_replicas: int
    updated_replicas: int
    unavailable_replicas: int
    status: str
    signature: tuple[Any, ...]
    problem: int


def deployment_state(row: DeploymentRow, sig: Signature, problem: int) -> DeploymentState:
    """What the writer remembers of a deployment: its contribution to the summaries."""
    return DeploymentState(
        sys.intern(row.namespace),
        row.name,
        row.replicas,
        row.ready_replicas,
        row.available_replicas,
        row.updated_replicas,
        row.unavailable_replicas,
        sys.intern(row.status),
        sig,
        problem,
    )


SPEC: Final = KindSpec(
    resource=RESOURCE,
    normalize=normalize,
    kind=Kind.DEPLOYMENT,
    row_type=DeploymentRow,
    table="deployments",
    filters=frozenset({"namespace", "status", "paused", "strategy"}),
    signature=signature,
    fields=fields,
    severity=severity,
    explain=explain,
    analyzers=(
        deployment_unavailable,
        deployment_zero_available,
        deployment_progress_deadline,
        deployment_replica_failure,
        deployment_rollout_stuck,
        deployment_paused,
    ),
    state=deployment_state,
    report_order=10,
    item=item,
    metric_families=METRIC_FAMILIES,
)
