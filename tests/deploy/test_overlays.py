"""What each overlay promises beyond the base, read from its rendered output."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.conftest import needs_kubectl, render
from tests.deploy.manifest_checks import (
    agent_deployment,
    comma_list,
    env_of,
    of_kind,
    scrape_job_violations,
)

pytestmark = [pytest.mark.kubectl, needs_kubectl]

Manifest = dict[str, Any]


def agent_container(objects: list[Manifest]) -> Manifest:
    container: Manifest = agent_deployment(objects)["spec"]["template"]["spec"]["containers"][0]
    return container


def env_value(objects: list[Manifest], name: str) -> str | None:
    entry = env_of(agent_container(objects)).get(name)
    return None if entry is None else entry.get("value")


def volume(objects: list[Manifest], name: str) -> Manifest:
    volumes = agent_deployment(objects)["spec"]["template"]["spec"]["volumes"]
    found: Manifest = next(v for v in volumes if v["name"] == name)
    return found


def test_deploy_root_is_the_base() -> None:
    assert render("deploy") == render("base")


def test_base_is_one_cluster_wide_replica_without_leader_election() -> None:
    objects = render("base")
    deployment = agent_deployment(objects)
    assert deployment["spec"]["replicas"] == 1
    assert [role["metadata"]["name"] for role in of_kind(objects, "ClusterRole")] == [
        "kube-watchcache-reader"
    ]
    assert env_value(objects, "KUBE_WATCHCACHE_NAMESPACES") is None
    assert env_value(objects, "KUBE_WATCHCACHE_LEADER_ELECTION") is None
    assert "emptyDir" in volume(objects, "data")
    # One replica must stay evictable, or it would block every node drain.
    (pdb,) = of_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "kube-watchcache"}},
    }


def test_base_token_secret_is_referenced_not_shipped() -> None:
    objects = render("base")
    assert of_kind(objects, "Secret") == []
    secret = volume(objects, "tokens")["secret"]
    assert secret["secretName"] == "kube-watchcache-tokens"
    assert secret.get("optional") is not True  # no token file, no open /mcp by accident


def test_namespaced_overlay_reads_only_the_listed_namespaces() -> None:
    objects = render("namespaced")
    assert of_kind(objects, "ClusterRole") == []
    assert of_kind(objects, "ClusterRoleBinding") == []
    reader_namespaces = {
        role["metadata"]["namespace"]
        for role in of_kind(objects, "Role")
        if any("pods" in rule.get("resources", []) for rule in role["rules"])
    }
    bound_namespaces = {
        binding["metadata"]["namespace"]
        for binding in of_kind(objects, "RoleBinding")
        if binding["roleRef"]["name"] == "kube-watchcache-reader"
    }
    watched = comma_list(env_value(objects, "KUBE_WATCHCACHE_NAMESPACES") or "")
    assert reader_namespaces == bound_namespaces == set(watched) == {"team-a", "team-b"}
    # Nodes are cluster-scoped: no Role can grant them, so the agent must skip them.
    for role in of_kind(objects, "Role"):
        for rule in role["rules"]:
            assert "nodes" not in rule.get("resources", [])
    kinds = comma_list(env_value(objects, "KUBE_WATCHCACHE_KINDS") or "")
    assert "nodes" not in kinds
    assert set(kinds) == {"pods", "deployments", "statefulsets"}


def test_persistent_overlay_keeps_the_db_on_a_claim_and_recreates() -> None:
    objects = render("persistent")
    deployment = agent_deployment(objects)
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["spec"]["replicas"] == 1
    data = volume(objects, "data")
    assert set(data) == {"name", "persistentVolumeClaim"}
    (claim,) = of_kind(objects, "PersistentVolumeClaim")
    assert data["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_prometheus_operator_overlay_scrapes_metrics_on_the_service_port() -> None:
    """ServiceMonitor is a CRD with no bundled schema, so its fields are checked here."""
    objects = render("prometheus-operator")
    (monitor,) = of_kind(objects, "ServiceMonitor")
    (service,) = of_kind(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert set(monitor["spec"]) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
    selector = monitor["spec"]["selector"]
    assert set(selector) == {"matchLabels"}
    assert selector["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {
        "matchNames": [service["metadata"]["namespace"]]
    }
    port_names = {port["name"] for port in service["spec"]["ports"]}
    endpoint_fields = {
        "port",
        "path",
        "scheme",
        "interval",
        "scrapeTimeout",
        "authorization",
        "honorLabels",
        "relabelings",
    }
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= endpoint_fields
        # The kube-state-metrics-compatible series carry their own namespace/pod labels.
        assert endpoint["honorLabels"] is True
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"
        assert endpoint["scheme"] == "http"
        assert endpoint["interval"].endswith("s")
        assert int(endpoint["scrapeTimeout"][:-1]) < int(endpoint["interval"][:-1])
    # kubernetes-mixin's rules select job="kube-state-metrics": the targets must carry it.
    assert scrape_job_violations(objects) == []


def test_ha_overlay_spreads_two_replicas_and_elects_a_leader() -> None:
    objects = render("ha")
    deployment = agent_deployment(objects)
    assert deployment["spec"]["replicas"] == 2
    pod_spec = deployment["spec"]["template"]["spec"]
    terms = pod_spec["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert any(
        term["topologyKey"] == "kubernetes.io/hostname"
        and term["labelSelector"]["matchLabels"].items() <= pod_labels.items()
        for term in terms
    )
    assert env_value(objects, "KUBE_WATCHCACHE_LEADER_ELECTION") == "true"
    names = [entry["name"] for entry in agent_container(objects)["env"]]
    assert len(names) == len(set(names)), "an env var is set twice"
    (pdb,) = of_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in pdb["spec"]
    # A surge pod could not be scheduled next to two spread replicas on two nodes.
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0
