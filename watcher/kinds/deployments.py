"""Deployments: decoding, a derived status, and the row the store keeps.

kubectl prints no STATUS column for deployments (READY, UP-TO-DATE, AVAILABLE),
so the derived `status` is ours. It names the one thing an operator should
look at first, checked in this order (the first match wins):

- `ProgressDeadlineExceeded`: Progressing=False with that reason; the rollout
  is stuck (what `kubectl rollout status` fails with).
- `ReplicaFailure`: ReplicaFailure=True; pods cannot be created (quota,
  admission webhooks, ...).
- `Paused`: spec.paused; nothing will progress until resumed.
- `Progressing`: a rollout is under way, as `store.transitions.rollout_progressing`
  defines it (the one definition the history, the health findings and the
  MCP answers share). A pod that dies after the rollout completed is not a
  rollout: that is `Degraded` or `Unavailable`.
- `Unavailable`: Available=False (below the minimum availability), or no
  replica available while some are desired and the condition is missing.
- `Degraded`: available, but fewer available replicas than desired.
- `Available`: everything desired is available (also when scaled to zero).
"""

from __future__ import annotations

import msgspec

from store.model import Condition, DeploymentRow, Kind
from store.transitions import rollout_progressing
from watcher.kinds.meta import ConditionIn, KubeObject, Resource, conditions_by_type, encode_object
from watcher.kinds.redaction import redact_deployment

__all__ = [
    "RESOURCE",
    "STORE_KIND",
    "DeploymentSpec",
    "DeploymentStatus",
    "deployment_status",
    "normalize",
]

RESOURCE = Resource(
    kind="Deployment", plural="deployments", group_version="apps/v1", namespaced=True
)
STORE_KIND: Kind | None = Kind.DEPLOYMENT


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
    unless revealed (see watcher.kinds.redaction)."""
    meta = obj.metadata
    spec = _spec_decoder.decode(obj.spec) if obj.spec else DeploymentSpec()
    status = _status_decoder.decode(obj.status) if obj.status else DeploymentStatus()
    conditions = conditions_by_type(status.conditions)
    generation = meta.generation or 0
    if not reveal_env_values:
        redact_deployment(obj)
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
