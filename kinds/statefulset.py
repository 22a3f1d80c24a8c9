"""StatefulSets: decoding, the row, its tracked status, analyzers, answers and metrics.

A StatefulSet's pods have stable names (`<name>-0`, `<name>-1`, ...) and are
replaced one at a time, from the highest ordinal down, so two things go
wrong in ways a Deployment does not show: replicas that stay not ready (a
crash-looping ordinal blocks every ordinal after it), and an update that
stops part-way, leaving the pods split between the current revision and the
update revision.

The derived `status`, first match wins:

- `Unavailable`: replicas are wanted and none is ready;
- `Progressing`: an update is under way (`update_in_progress`); one that
  lasts is the `statefulset.update_stuck` finding, not a status;
- `Degraded`: fewer ready replicas than desired;
- `Available`: every desired replica is ready (also when scaled to zero).

With the OnDelete strategy the controller replaces no pod by itself, so an
update waits for someone to delete pods: the rollout reads `on-delete`,
never `progressing`, and is not reported stuck.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from kinds.common import (
    Candidate,
    Condition,
    Finding,
    HealthSettings,
    Severity,
    age_seconds,
    replicas_severity,
    timestamp,
)
from kinds.meta import ConditionIn, KubeObject, Resource, conditions_by_type, encode_object
from kinds.names import Kind
from kinds.redaction import redact_workload
from kinds.spec import KindSpec, MetricFamily, Sample, Signature, status_signature

__all__ = [
    "METRIC_FAMILIES",
    "RESOURCE",
    "SPEC",
    "StatefulSetRow",
    "item",
    "metric_samples",
    "normalize",
    "rollout",
    "update_in_progress",
]

RESOURCE = Resource(
    kind="StatefulSet", plural="statefulsets", group_version="apps/v1", namespaced=True
)


class StatefulSetRow(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    uid: str
    namespace: str
    name: str
    resource_version: str
    created_at: str | None = None
    labels: dict[str, str] = {}
    selector: dict[str, str] = {}  # spec.selector.matchLabels
    service_name: str | None = None
    pod_management_policy: str = "OrderedReady"
    update_strategy: str = "RollingUpdate"  # or OnDelete
    partition: int = 0  # spec.updateStrategy.rollingUpdate.partition
    generation: int = 0
    observed_generation: int = 0
    replicas: int = 0  # spec.replicas (desired)
    status_replicas: int = 0  # status.replicas: pods the controller created
    ready_replicas: int = 0
    available_replicas: int = 0
    current_replicas: int = 0  # pods at currentRevision
    updated_replicas: int = 0  # pods at updateRevision
    current_revision: str | None = None
    update_revision: str | None = None
    conditions: dict[str, Condition] = {}
    status: str = "Available"
    ordinals_start: int | None = None  # spec.ordinals.start, when set
    pvc_when_deleted: str | None = None  # spec.persistentVolumeClaimRetentionPolicy
    pvc_when_scaled: str | None = None
    deletion_at: str | None = None  # metadata.deletionTimestamp
    obj: bytes = b"{}"


# --- decoding ---------------------------------------------------------------------------------


class _LabelSelector(msgspec.Struct, gc=False, rename="camel"):
    match_labels: dict[str, str] = {}


class _RollingUpdate(msgspec.Struct, gc=False):
    partition: int = 0


class _UpdateStrategy(msgspec.Struct, gc=False, rename="camel"):
    type: str = "RollingUpdate"
    rolling_update: _RollingUpdate | None = None


class _Ordinals(msgspec.Struct, gc=False):
    start: int = 0


class _RetentionPolicy(msgspec.Struct, gc=False, rename="camel"):
    when_deleted: str | None = None
    when_scaled: str | None = None


class _Spec(msgspec.Struct, gc=False, rename="camel"):
    # The API server defaults replicas to 1; an absent field means the same.
    replicas: int = 1
    ordinals: _Ordinals | None = None
    persistent_volume_claim_retention_policy: _RetentionPolicy | None = None
    selector: _LabelSelector | None = None
    service_name: str | None = None
    pod_management_policy: str = "OrderedReady"
    update_strategy: _UpdateStrategy | None = None


class _Status(msgspec.Struct, gc=False, rename="camel"):
    observed_generation: int = 0
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    current_replicas: int = 0
    updated_replicas: int = 0
    current_revision: str | None = None
    update_revision: str | None = None
    conditions: list[ConditionIn] = []


_spec_decoder = msgspec.json.Decoder(_Spec)
_status_decoder = msgspec.json.Decoder(_Status)


def update_in_progress(
    *,
    generation: int,
    observed_generation: int,
    replicas: int,
    updated_replicas: int,
    partition: int,
    current_revision: str | None,
    update_revision: str | None,
) -> bool:
    """Whether a RollingUpdate is under way: the one definition the status, the tracked
    `rollout` field and the `statefulset.update_stuck` finding share.

    The controller has not observed the latest generation; or, with a
    partition, fewer pods than the ordinals at or above it are at the update
    revision; or, without one, the pods are not all at the update revision
    (`kubectl rollout status`'s rules). A replica that is merely not ready is
    no update: that is `Degraded` and `statefulset.replicas_not_ready`.
    """
    if observed_generation < generation:
        return True
    if partition > 0:
        return updated_replicas < max(replicas - partition, 0)
    return bool(update_revision) and current_revision != update_revision


def rollout(row: StatefulSetRow) -> str:
    """The rollout in one word: `on-delete` (OnDelete strategy), `progressing`, `complete`."""
    if row.update_strategy == "OnDelete":
        return "on-delete"
    progressing = update_in_progress(
        generation=row.generation,
        observed_generation=row.observed_generation,
        replicas=row.replicas,
        updated_replicas=row.updated_replicas,
        partition=row.partition,
        current_revision=row.current_revision,
        update_revision=row.update_revision,
    )
    return "progressing" if progressing else "complete"


def _status(row: StatefulSetRow) -> str:
    """The derived status; the order of checks is documented in the module docstring."""
    if row.replicas > 0 and row.ready_replicas == 0:
        return "Unavailable"
    if rollout(row) == "progressing":
        return "Progressing"
    if row.ready_replicas < row.replicas:
        return "Degraded"
    return "Available"


def normalize(obj: KubeObject, *, reveal_env_values: bool = False) -> StatefulSetRow:
    """The store row for one StatefulSet; its pod template's literal env values redacted
    unless revealed (see kinds.redaction)."""
    meta = obj.metadata
    spec = _spec_decoder.decode(obj.spec) if obj.spec else _Spec()
    status = _status_decoder.decode(obj.status) if obj.status else _Status()
    strategy = spec.update_strategy or _UpdateStrategy()
    retention = spec.persistent_volume_claim_retention_policy
    if not reveal_env_values:
        redact_workload(obj)
    row = StatefulSetRow(
        uid=meta.uid,
        namespace=meta.namespace or "",
        name=meta.name,
        resource_version=meta.resource_version,
        created_at=meta.creation_timestamp,
        labels=meta.labels or {},
        selector=spec.selector.match_labels if spec.selector else {},
        service_name=spec.service_name,
        pod_management_policy=spec.pod_management_policy,
        update_strategy=strategy.type,
        partition=strategy.rolling_update.partition if strategy.rolling_update else 0,
        generation=meta.generation or 0,
        observed_generation=status.observed_generation,
        replicas=spec.replicas,
        status_replicas=status.replicas,
        ready_replicas=status.ready_replicas,
        available_replicas=status.available_replicas,
        current_replicas=status.current_replicas,
        updated_replicas=status.updated_replicas,
        current_revision=status.current_revision,
        update_revision=status.update_revision,
        conditions=conditions_by_type(status.conditions),
        ordinals_start=spec.ordinals.start if spec.ordinals else None,
        pvc_when_deleted=retention.when_deleted if retention else None,
        pvc_when_scaled=retention.when_scaled if retention else None,
        deletion_at=meta.deletion_timestamp,
        obj=encode_object(obj, RESOURCE),
    )
    return msgspec.structs.replace(row, status=_status(row))


# --- tracked status ---------------------------------------------------------------------------
# Fields, as they appear in `Transition.field`: `replicas/ready`, `replicas/updated`
# (values "have/desired"), `rollout` (`complete`, `progressing`, `on-delete`),
# `revision/update` (the update revision: a new one starts an update).


def signature(row: StatefulSetRow) -> Signature:
    return status_signature(
        {
            "replicas/ready": f"{row.ready_replicas}/{row.replicas}",
            "replicas/updated": f"{row.updated_replicas}/{row.replicas}",
            "rollout": rollout(row),
            "revision/update": row.update_revision,
        }
    )


def severity(field: str, value: str | None, sig: Signature) -> Severity:
    if field == "replicas/ready":
        return replicas_severity(value)
    return Severity.INFO


def explain(field: str, value: str | None, row: StatefulSetRow) -> tuple[str, str]:
    if field == "revision/update":
        return "UpdateRevision", f"pods move from {row.current_revision} to {value}"
    return "", ""


# --- health -----------------------------------------------------------------------------------


def _finding(
    row: StatefulSetRow, check: str, severity: Severity, reason: str, message: str
) -> Finding:
    return Finding(
        check=check,
        severity=severity,
        kind=Kind.STATEFULSET,
        namespace=row.namespace,
        name=row.name,
        uid=row.uid,
        reason=reason,
        message=message,
        evidence={
            "desired": row.replicas,
            "ready": row.ready_replicas,
            "current": row.current_replicas,
            "updated": row.updated_replicas,
            "current_revision": row.current_revision,
            "update_revision": row.update_revision,
        },
    )


def replicas_not_ready(row: StatefulSetRow, settings: HealthSettings) -> Candidate | None:
    """Fewer ready replicas than desired, past the grace period deployments get.

    None ready of some desired is critical (the workload is down); some
    missing is a warning. An ordinal that is not ready also holds back every
    ordinal after it (OrderedReady), so this often explains a stuck update.
    """
    if row.replicas <= 0 or row.ready_replicas >= row.replicas:
        return None
    none_ready = row.ready_replicas == 0
    finding = _finding(
        row,
        "statefulset.replicas_not_ready",
        Severity.CRITICAL if none_ready else Severity.WARNING,
        "NoReplicasReady" if none_ready else "ReplicasNotReady",
        f"{row.ready_replicas} of {row.replicas} replicas ready",
    )
    wait = settings.zero_available_after_s if none_ready else settings.not_ready_after_s
    return Candidate(finding, min_age_s=wait, field="replicas/ready")


def update_stuck(row: StatefulSetRow, settings: HealthSettings) -> Candidate | None:
    """A RollingUpdate unfinished after `rollout_stuck_after_s`: current and update revisions
    split the pods (or the controller has not observed the latest generation)."""
    if rollout(row) != "progressing":
        return None
    if row.observed_generation < row.generation:
        message = (
            f"generation {row.generation} not yet observed (observed {row.observed_generation})"
        )
    else:
        message = (
            f"{row.updated_replicas} of {row.replicas} replicas at update revision "
            f"{row.update_revision}; current revision {row.current_revision}"
        )
    finding = _finding(row, "statefulset.update_stuck", Severity.WARNING, "UpdateStuck", message)
    return Candidate(finding, min_age_s=settings.rollout_stuck_after_s, field="rollout")


# --- answers ----------------------------------------------------------------------------------


def item(row: StatefulSetRow, now: float) -> dict[str, Any]:
    """One line of a StatefulSet list."""
    return {
        "namespace": row.namespace,
        "name": row.name,
        "status": row.status,
        "replicas": row.replicas,
        "ready": row.ready_replicas,
        "current": row.current_replicas,
        "updated": row.updated_replicas,
        "rollout": rollout(row),
        "current_revision": row.current_revision,
        "update_revision": row.update_revision,
        "age_seconds": age_seconds(row.created_at, now),
    }


# --- /metrics: kube-state-metrics' StatefulSet families ---------------------------------------

_LABELS = ("namespace", "statefulset")
_REVISION = (*_LABELS, "revision")


def _gauge(name: str, help_text: str, labels: tuple[str, ...] = _LABELS) -> MetricFamily:
    return MetricFamily(name, "gauge", "[STABLE] " + help_text, labels)


METRIC_FAMILIES: Final = (
    _gauge("kube_statefulset_created", "Unix creation timestamp"),
    _gauge("kube_statefulset_status_replicas", "The number of replicas per StatefulSet."),
    _gauge(
        "kube_statefulset_status_replicas_available",
        "The number of available replicas per StatefulSet.",
    ),
    _gauge(
        "kube_statefulset_status_replicas_current",
        "The number of current replicas per StatefulSet.",
    ),
    _gauge(
        "kube_statefulset_status_replicas_ready", "The number of ready replicas per StatefulSet."
    ),
    _gauge(
        "kube_statefulset_status_replicas_updated",
        "The number of updated replicas per StatefulSet.",
    ),
    _gauge(
        "kube_statefulset_status_observed_generation",
        "The generation observed by the StatefulSet controller.",
    ),
    _gauge("kube_statefulset_replicas", "Number of desired pods for a StatefulSet."),
    _gauge(
        "kube_statefulset_metadata_generation",
        "Sequence number representing a specific generation of the desired state for the "
        "StatefulSet.",
    ),
    _gauge(
        "kube_statefulset_status_current_revision",
        "Indicates the version of the StatefulSet used to generate Pods in the sequence "
        "[0,currentReplicas).",
        _REVISION,
    ),
    _gauge(
        "kube_statefulset_status_update_revision",
        "Indicates the version of the StatefulSet used to generate Pods in the sequence "
        "[replicas-updatedReplicas,replicas)",
        _REVISION,
    ),
    _gauge("kube_statefulset_ordinals_start", "Start ordinal of the StatefulSet."),
    _gauge(
        "kube_statefulset_persistentvolumeclaim_retention_policy",
        "Count of retention policy for StatefulSet template PVCs",
        (*_LABELS, "when_deleted", "when_scaled"),
    ),
    _gauge("kube_statefulset_deletion_timestamp", "Unix deletion timestamp"),
    # As kube-state-metrics without an allow-list for them: declared, no series.
    _gauge("kube_statefulset_labels", "Kubernetes labels converted to Prometheus labels."),
    _gauge(
        "kube_statefulset_annotations", "Kubernetes annotations converted to Prometheus labels."
    ),
)


def metric_samples(row: StatefulSetRow) -> list[Sample]:
    """This StatefulSet's samples, as kube-state-metrics exports them."""
    labels = (row.namespace, row.name)
    samples: list[Sample] = [
        ("kube_statefulset_status_replicas", labels, row.status_replicas),
        ("kube_statefulset_status_replicas_available", labels, row.available_replicas),
        ("kube_statefulset_status_replicas_current", labels, row.current_replicas),
        ("kube_statefulset_status_replicas_ready", labels, row.ready_replicas),
        ("kube_statefulset_status_replicas_updated", labels, row.updated_replicas),
        ("kube_statefulset_status_observed_generation", labels, row.observed_generation),
        ("kube_statefulset_replicas", labels, row.replicas),
        ("kube_statefulset_metadata_generation", labels, row.generation),
        (
            "kube_statefulset_status_current_revision",
            (*labels, row.current_revision or ""),
            1,
        ),
        ("kube_statefulset_status_update_revision", (*labels, row.update_revision or ""), 1),
    ]
    created = timestamp(row.created_at)
    if created is not None:
        samples.insert(0, ("kube_statefulset_created", labels, created))
    if row.ordinals_start is not None:
        samples.append(("kube_statefulset_ordinals_start", labels, row.ordinals_start))
    if row.pvc_when_deleted or row.pvc_when_scaled:
        policy = (*labels, row.pvc_when_deleted or "", row.pvc_when_scaled or "")
        samples.append(("kube_statefulset_persistentvolumeclaim_retention_policy", policy, 1))
    deleted = timestamp(row.deletion_at)
    if deleted is not None:
        samples.append(("kube_statefulset_deletion_timestamp", labels, deleted))
    return samples


SPEC: Final = KindSpec(
    resource=RESOURCE,
    normalize=normalize,
    kind=Kind.STATEFULSET,
    row_type=StatefulSetRow,
    table="statefulsets",
    filters=frozenset({"namespace", "status", "update_strategy", "pod_management_policy"}),
    signature=signature,
    severity=severity,
    explain=explain,
    analyzers=(replicas_not_ready, update_stuck),
    report_order=10,
    item=item,
    metric_families=METRIC_FAMILIES,
    metric_samples=metric_samples,
)
