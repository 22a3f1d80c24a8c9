"""ReplicaSets: watched only to link pods to their Deployment, never stored.

A pod's controller is a ReplicaSet; the ReplicaSet's controller is the
Deployment. The informer keeps one small `ReplicaSetLink` per ReplicaSet (its
namespace, name and owning Deployment), not the object.
"""

from __future__ import annotations

from typing import Final

import msgspec

from kinds.meta import KubeObject, Resource, controller_of
from kinds.spec import KindSpec, MetricFamily

__all__ = ["METRIC_FAMILIES", "RESOURCE", "SPEC", "ReplicaSetLink", "normalize"]

RESOURCE = Resource(
    kind="ReplicaSet", plural="replicasets", group_version="apps/v1", namespaced=True
)


class ReplicaSetLink(msgspec.Struct, gc=False, frozen=True):
    uid: str
    namespace: str
    name: str
    resource_version: str
    deployment: str | None  # None: not owned by a Deployment


def normalize(obj: KubeObject, *, reveal_env_values: bool = False) -> ReplicaSetLink:
    """The link for one ReplicaSet (the object is not stored: nothing to redact)."""
    meta = obj.metadata
    owner = controller_of(meta)
    return ReplicaSetLink(
        uid=meta.uid,
        namespace=meta.namespace or "",
        name=meta.name,
        resource_version=meta.resource_version,
        deployment=owner.name if owner is not None and owner.kind == "Deployment" else None,
    )


# The one ReplicaSet family /metrics exports: the mixin joins pods to their Deployment
# through it (`namespace_workload_pod:kube_pod_owner:relabel`). ReplicaSets are not stored:
# the exporter derives it from the pods' links (the ReplicaSet a pod's controller names and
# the Deployment the pod's row records), so a ReplicaSet without pods has no series.
METRIC_FAMILIES: Final = (
    MetricFamily(
        "kube_replicaset_owner",
        "gauge",
        "[STABLE] Information about the ReplicaSet's owner.",
        ("namespace", "replicaset", "owner_kind", "owner_name", "owner_is_controller"),
    ),
)

SPEC: Final = KindSpec(
    resource=RESOURCE, normalize=normalize, stored=False, metric_families=METRIC_FAMILIES
)
