"""Cluster gauges hold the simulator's state, per object and summed, before and after changes."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mcpserver.agent import Agent
from store import Kind, parse_quantity
from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import (
    Transitions,
    expected_deployments,
    expected_deployments_more,
    expected_nodes,
    expected_nodes_more,
    expected_pods,
    expected_pods_more,
    key,
    samples,
    settled_scrape,
)

pytestmark = pytest.mark.anyio

# Bigger than the MCP tests' cluster so that every family has samples; still quick.
CLUSTER = {"nodes": 8, "deployments": 10, "pods_per_deployment": 2, "churn": 0.0}


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(
        tmp_path_factory.mktemp("values"), shape=CLUSTER, metrics_mode="objects"
    ) as running:
        yield running


def _sim(agent: Agent, plural: str) -> list[dict[str, Any]]:
    assert agent.simulator is not None
    objects: list[dict[str, Any]] = agent.simulator.store.list(plural)
    return objects


async def _assert_objects_match(agent: Agent) -> dict[str, Any]:
    fams = await settled_scrape(agent)
    expected = {
        **expected_pods(_sim(agent, "pods")),
        **expected_deployments(_sim(agent, "deployments")),
        **expected_nodes(_sim(agent, "nodes")),
        **expected_pods_more(_sim(agent, "pods")),
        **expected_deployments_more(_sim(agent, "deployments")),
        **expected_nodes_more(_sim(agent, "nodes")),
    }
    for name, want in expected.items():
        got = samples(fams, name)
        assert got == want, f"{name}: {sorted(set(got.items()) ^ set(want.items()))[:6]}"
    return fams


async def test_every_object_gauge_matches_the_simulator(agent: Agent) -> None:
    fams = await _assert_objects_match(agent)
    assert len(samples(fams, "kube_pod_info")) == len(_sim(agent, "pods")) > 0
    mode = samples(fams, "kube_watchcache_metrics_cluster_mode")
    assert mode == {key(mode="objects"): 1.0}


async def test_gauges_follow_status_changes(agent: Agent) -> None:
    assert agent.scenario is not None
    scenario = agent.scenario

    # A container starts crash-looping: waiting reason and restarts show it.
    crashing = Transitions(agent, lambda t: t.field.endswith("/waiting_reason"))
    scenario.step("crash_loop")
    scenario.advance(60)  # virtual time: the crash loop reaches its back-off
    target = scenario.last_target
    assert target is not None
    await crashing.wait()
    fams = await _assert_objects_match(agent)
    pod = next(
        p
        for p in _sim(agent, "pods")
        if (p["metadata"]["namespace"], p["metadata"]["name"]) == tuple(target)
    )
    waiting = {
        dict(k)["reason"]
        for k in samples(fams, "kube_pod_container_status_waiting_reason")
        if dict(k)["pod"] == pod["metadata"]["name"]
    }
    assert waiting & {"CrashLoopBackOff", "RunContainerError"}, waiting

    # A node stops reporting, another is cordoned: conditions and unschedulable follow.
    broken = Transitions(agent, lambda t: t.kind is Kind.NODE and t.field == "condition/Ready")
    scenario.step("node_not_ready")
    await broken.wait()
    cordoned = Transitions(agent, lambda t: t.kind is Kind.NODE and t.field == "unschedulable")
    scenario.step("cordon")
    await cordoned.wait()
    fams = await _assert_objects_match(agent)
    ready = samples(fams, "kube_node_status_condition")
    assert any(
        dict(k)["condition"] == "Ready" and dict(k)["status"] != "true" and v == 1
        for k, v in ready.items()
    )
    assert 1.0 in samples(fams, "kube_node_spec_unschedulable").values()

    # A scale: the deployment's replica gauges move with it.
    scaled = Transitions(agent, lambda t: t.kind is Kind.DEPLOYMENT)
    scenario.step("scale")
    await scaled.wait()
    await _assert_objects_match(agent)


async def test_summary_mode_sums_the_simulator_per_namespace_and_node(agent: Agent) -> None:
    cluster = agent.metrics.cluster
    assert cluster is not None
    cluster.mode = "summary"
    try:
        fams = await settled_scrape(agent)
    finally:
        cluster.mode = "objects"
    assert not any(name.startswith("kube_pod_") for name in fams)
    assert samples(fams, "kube_watchcache_metrics_cluster_mode") == {key(mode="summary"): 1.0}
    pods = _sim(agent, "pods")
    by_phase = Counter(
        (p["metadata"]["namespace"], p.get("status", {}).get("phase", "Pending")) for p in pods
    )
    assert samples(fams, "kube_watchcache_namespace_pods") == {
        key(namespace=ns, phase=phase): float(n) for (ns, phase), n in by_phase.items()
    }
    on_node = Counter(
        (p["spec"]["nodeName"], p["status"]["phase"]) for p in pods if p["spec"].get("nodeName")
    )
    assert samples(fams, "kube_watchcache_node_pods") == {
        key(node=node, phase=phase): float(n) for (node, phase), n in on_node.items()
    }
    requested: Counter[str] = Counter()
    for p in pods:
        if p["status"].get("phase") in ("Succeeded", "Failed"):
            continue
        for c in p["spec"]["containers"]:
            memory = ((c.get("resources") or {}).get("requests") or {}).get("memory")
            if memory is not None:
                requested[p["metadata"]["namespace"]] += int(parse_quantity(memory))
    got = samples(fams, "kube_watchcache_namespace_resource_requests")
    for ns, total in requested.items():
        assert got[key(namespace=ns, resource="memory", unit="byte")] == total
    nodes = {n["metadata"]["name"]: n for n in _sim(agent, "nodes")}
    ready = samples(fams, "kube_watchcache_node_ready")
    for name, n in nodes.items():
        status = next(c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready")
        assert ready[key(node=name, status=status.lower())] == 1.0
    desired: Counter[str] = Counter()
    for d in _sim(agent, "deployments"):
        desired[d["metadata"]["namespace"]] += d["spec"].get("replicas", 1)
    replicas = samples(fams, "kube_watchcache_namespace_deployment_replicas")
    assert {k: v for k, v in replicas.items() if dict(k)["state"] == "desired"} == {
        key(namespace=ns, state="desired"): float(n) for ns, n in desired.items()
    }


async def test_auto_mode_switches_to_summary_above_the_object_limit(agent: Agent) -> None:
    from tests.metrics.conftest import families

    cluster = agent.metrics.cluster
    assert cluster is not None
    count = sum(agent.store.view.objects(k) for k in Kind)
    cluster.mode = "auto"
    try:
        cluster.objects_limit = count
        at_limit = await families(agent)
        cluster.objects_limit = count - 1
        above = await families(agent)
    finally:
        cluster.mode, cluster.objects_limit = "objects", 20_000
    assert samples(at_limit, "kube_watchcache_metrics_cluster_mode") == {key(mode="objects"): 1}
    assert "kube_pod_status_phase" in at_limit
    assert samples(above, "kube_watchcache_metrics_cluster_mode") == {key(mode="summary"): 1}
    # Above the limit: the aggregates, and the per-object families only where alerts need them.
    assert "kube_watchcache_namespace_pods" in above
    assert "kube_pod_container_resource_requests" not in above
