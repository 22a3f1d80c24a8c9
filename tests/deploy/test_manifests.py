"""Every kustomization, rendered as an operator would apply it, against the deploy rules."""

from __future__ import annotations

from typing import Any

import pytest

from kinds import DEFAULT_KINDS
from tests.deploy.manifest_checks import (
    agent_deployment,
    env_of,
    is_custom_resource,
    label_violations,
    network_policy_violations,
    probe_violations,
    rbac_gaps,
    rbac_violations,
    schema_violations,
    wiring_violations,
    workload_violations,
)

pytestmark = pytest.mark.kubectl

Rendered = tuple[str, list[dict[str, Any]]]
#: The API version the schemas come from: the kubectl shipped here, and a
#: release every supported cluster is at least as new as.
KUBERNETES_VERSION = "1.32.0"


def test_every_builtin_object_validates_against_the_openapi_schema(rendered: Rendered) -> None:
    _, objects = rendered
    assert schema_violations(objects, kubernetes_version=KUBERNETES_VERSION) == []


def test_rbac_grants_only_reads_and_the_lease(rendered: Rendered) -> None:
    _, objects = rendered
    namespace = agent_deployment(objects)["metadata"]["namespace"]
    assert rbac_violations(objects, agent_namespace=namespace) == []


def test_rbac_lets_the_agent_read_every_kind_it_watches(rendered: Rendered) -> None:
    _, objects = rendered
    container = agent_deployment(objects)["spec"]["template"]["spec"]["containers"][0]
    kinds = (env_of(container).get("KUBE_WATCHCACHE_KINDS") or {}).get("value")
    watched = kinds.split(",") if kinds else list(DEFAULT_KINDS)
    assert rbac_gaps(objects, watched=watched) == []


def test_pods_meet_the_restricted_pod_security_standard(rendered: Rendered) -> None:
    _, objects = rendered
    assert workload_violations(objects) == []


def test_probes_point_at_health_and_ready_on_the_named_port(rendered: Rendered) -> None:
    _, objects = rendered
    assert probe_violations(agent_deployment(objects)) == []


def test_every_object_carries_the_recommended_labels(rendered: Rendered) -> None:
    _, objects = rendered
    assert label_violations(objects) == []


def test_objects_are_wired_to_each_other_and_to_the_agent_contract(rendered: Rendered) -> None:
    _, objects = rendered
    assert wiring_violations(objects) == []


def test_network_policy_opens_only_http_in_and_dns_and_api_out(rendered: Rendered) -> None:
    _, objects = rendered
    assert network_policy_violations(objects) == []


def test_the_install_lives_in_its_own_restricted_namespace(rendered: Rendered) -> None:
    _, objects = rendered
    namespaces = [obj for obj in objects if obj["kind"] == "Namespace"]
    assert [ns["metadata"]["name"] for ns in namespaces] == ["kube-watchcache"]
    labels = namespaces[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for obj in objects:
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"].get("namespace"), f"{obj['kind']} has no namespace"


def test_only_known_kinds_are_rendered(rendered: Rendered) -> None:
    """A new kind needs a conscious decision about its checks; CRDs need hand checks."""
    _, objects = rendered
    known = {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "PersistentVolumeClaim",
        "ServiceMonitor",
    }
    assert {obj["kind"] for obj in objects} <= known
    assert all(obj["kind"] == "ServiceMonitor" for obj in objects if is_custom_resource(obj))


def test_resources_are_bounded(rendered: Rendered) -> None:
    _, objects = rendered
    container = agent_deployment(objects)["spec"]["template"]["spec"]["containers"][0]
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]
