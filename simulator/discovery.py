"""Discovery documents, legacy and aggregated, built from the resource registry.

kubectl and client-go start every session here: kubectl 1.32 asks for the
aggregated `apidiscovery.k8s.io/v2` form first (one request for all groups),
falls back to `APIGroupList`/`APIResourceList`, and resolves short names
(`po`, `deploy`, `no`) from whichever it got. The authorization group is
advertised because clients POST a SelfSubjectAccessReview before deciding to
list across namespaces.
"""

from __future__ import annotations

from typing import Any

from .resources import RESOURCES, ResourceInfo

__all__ = [
    "AGGREGATED_MEDIA",
    "SERVER_VERSION",
    "aggregated_discovery",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "served_group_versions",
]

AGGREGATED_MEDIA = "application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList"

SERVER_VERSION: dict[str, str] = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-kube-watchcache-sim",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_AUTHZ_GROUP = "authorization.k8s.io"
_SUBRESOURCE_VERBS = ["get", "patch", "update"]


def served_group_versions() -> dict[str, list[str]]:
    """Group -> versions, with the core group as ""; includes authorization."""
    groups: dict[str, list[str]] = {}
    for info in RESOURCES.values():
        versions = groups.setdefault(info.group, [])
        if info.version not in versions:
            versions.append(info.version)
    groups.setdefault(_AUTHZ_GROUP, ["v1"])
    return groups


def _resources_in(group: str, version: str) -> list[ResourceInfo]:
    return [i for i in RESOURCES.values() if i.group == group and i.version == version]


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group(group: str) -> dict[str, Any]:
    versions = served_group_versions()[group]
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def api_group_list() -> dict[str, Any]:
    groups = [api_group(g) for g in served_group_versions() if g]
    for group in groups:
        del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """The `APIResourceList` of one group/version, or None when not served."""
    if version not in served_group_versions().get(group, []):
        return None
    resources: list[dict[str, Any]] = []
    for info in _resources_in(group, version):
        entry: dict[str, Any] = {
            "name": info.plural,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": list(info.verbs),
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        resources.append(entry)
        if info.status_subresource:
            resources.append(
                {
                    "name": f"{info.plural}/status",
                    "singularName": "",
                    "namespaced": info.namespaced,
                    "kind": info.kind,
                    "verbs": _SUBRESOURCE_VERBS,
                }
            )
    if group == _AUTHZ_GROUP:
        resources.append(
            {
                "name": "selfsubjectaccessreviews",
                "singularName": "selfsubjectaccessreview",
                "namespaced": False,
                "kind": "SelfSubjectAccessReview",
                "verbs": ["create"],
            }
        )
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _aggregated_resource(info: ResourceInfo) -> dict[str, Any]:
    kind_ref = {"group": info.group, "version": info.version, "kind": info.kind}
    entry: dict[str, Any] = {
        "resource": info.plural,
        "responseKind": kind_ref,
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    if info.status_subresource:
        entry["subresources"] = [
            {"subresource": "status", "responseKind": kind_ref, "verbs": _SUBRESOURCE_VERBS}
        ]
    return entry


def _aggregated_group(group: str) -> dict[str, Any]:
    versions = []
    for version in served_group_versions()[group]:
        resources = [_aggregated_resource(i) for i in _resources_in(group, version)]
        if group == _AUTHZ_GROUP:
            resources.append(
                {
                    "resource": "selfsubjectaccessreviews",
                    "responseKind": {
                        "group": group,
                        "version": version,
                        "kind": "SelfSubjectAccessReview",
                    },
                    "scope": "Cluster",
                    "singularResource": "selfsubjectaccessreview",
                    "verbs": ["create"],
                }
            )
        versions.append({"version": version, "resources": resources, "freshness": "Current"})
    metadata: dict[str, Any] = {"creationTimestamp": None}
    if group:
        metadata["name"] = group
    return {"metadata": metadata, "versions": versions}


def aggregated_discovery(*, core: bool, version: str = "v2") -> dict[str, Any]:
    """`APIGroupDiscoveryList` for /api (core=True) or /apis."""
    groups = [""] if core else [g for g in served_group_versions() if g]
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": [_aggregated_group(g) for g in groups],
    }
