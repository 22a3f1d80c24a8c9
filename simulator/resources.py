"""The kinds the simulator serves, described once.

Discovery, routing, storage and table printing all need the same few facts
about a kind (its group/version, plural, whether it is namespaced, which
fields a field selector may name). Keeping them in one registry means a kind
added here appears consistently everywhere, and a request for anything else
is an honest 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RESOURCES", "ResourceInfo", "lookup", "resource_for"]

_READ_WRITE = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """One served resource: what discovery advertises and the rules storage applies."""

    plural: str
    singular: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = _READ_WRITE
    # Kinds whose status is a subresource: a write to the main resource keeps
    # the stored status, a write to /status keeps everything but the status.
    status_subresource: bool = False
    # Kinds whose metadata.generation tracks spec changes (the controllers'
    # observedGeneration is compared against it).
    has_generation: bool = False
    # Field selector labels the real API server accepts for this kind, beyond
    # metadata.name and metadata.namespace.
    extra_fields: tuple[str, ...] = ()
    selectable_fields: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "selectable_fields", _COMMON_FIELDS + self.extra_fields)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


RESOURCES: dict[str, ResourceInfo] = {
    info.plural: info
    for info in (
        ResourceInfo(
            plural="pods",
            singular="pod",
            kind="Pod",
            group="",
            version="v1",
            namespaced=True,
            short_names=("po",),
            categories=("all",),
            status_subresource=True,
            extra_fields=(
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ),
        ),
        ResourceInfo(
            plural="nodes",
            singular="node",
            kind="Node",
            group="",
            version="v1",
            namespaced=False,
            short_names=("no",),
            status_subresource=True,
            extra_fields=("spec.unschedulable",),
        ),
        ResourceInfo(
            plural="namespaces",
            singular="namespace",
            kind="Namespace",
            group="",
            version="v1",
            namespaced=False,
            short_names=("ns",),
            status_subresource=True,
            extra_fields=("status.phase",),
        ),
        ResourceInfo(
            plural="events",
            singular="event",
            kind="Event",
            group="",
            version="v1",
            namespaced=True,
            short_names=("ev",),
            extra_fields=(
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ),
        ),
        ResourceInfo(
            plural="deployments",
            singular="deployment",
            kind="Deployment",
            group="apps",
            version="v1",
            namespaced=True,
            short_names=("deploy",),
            categories=("all",),
            status_subresource=True,
            has_generation=True,
        ),
        ResourceInfo(
            plural="replicasets",
            singular="replicaset",
            kind="ReplicaSet",
            group="apps",
            version="v1",
            namespaced=True,
            short_names=("rs",),
            categories=("all",),
            status_subresource=True,
            has_generation=True,
            extra_fields=("status.replicas",),
        ),
        ResourceInfo(
            plural="statefulsets",
            singular="statefulset",
            kind="StatefulSet",
            group="apps",
            version="v1",
            namespaced=True,
            short_names=("sts",),
            categories=("all",),
            status_subresource=True,
            has_generation=True,
        ),
        ResourceInfo(
            plural="leases",
            singular="lease",
            kind="Lease",
            group="coordination.k8s.io",
            version="v1",
            namespaced=True,
        ),
    )
}


def resource_for(plural: str) -> ResourceInfo:
    """The registry entry for `plural`; KeyError names the served ones otherwise."""
    try:
        return RESOURCES[plural]
    except KeyError:
        served = ", ".join(sorted(RESOURCES))
        raise KeyError(f"unknown resource {plural!r} (served: {served})") from None


def lookup(group: str, version: str, plural: str) -> ResourceInfo | None:
    """The resource served at this group/version path segment, if any."""
    info = RESOURCES.get(plural)
    if info is None or info.group != group or info.version != version:
        return None
    return info
