"""Auto mode above the object limit: stable, and still carrying what the mixin's alerts read.

The agent runs on the simulator in auto mode; the object limit is moved
next to the store's real object count, and the count itself is moved by
creating and deleting pods in the simulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from prometheus_client.metrics_core import Metric

from mcpserver.agent import Agent
from mcpserver.ksm.collector import DWELL_SECONDS, LOW_WATER, ClusterCollector
from mcpserver.ksm.worker import RenderFailed
from store import Kind
from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import (
    Commits,
    Transitions,
    expected_deployments,
    expected_nodes,
    expected_pods,
    families,
    key,
    samples,
    settled_scrape,
)
from tests.simulator.kit import make_pod

pytestmark = pytest.mark.anyio

CLUSTER = {"nodes": 4, "deployments": 6, "pods_per_deployment": 2, "churn": 0.0}
RESOURCE_FAMILIES = ("kube_pod_container_resource_requests", "kube_pod_container_resource_limits")


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(
        tmp_path_factory.mktemp("modes"), shape=CLUSTER, metrics_mode="auto"
    ) as running:
        yield running


def _cluster(agent: Agent) -> ClusterCollector:
    cluster = agent.metrics.cluster
    assert cluster is not None
    return cluster


def _sim(agent: Agent, plural: str) -> list[dict[str, Any]]:
    assert agent.simulator is not None
    objects: list[dict[str, Any]] = agent.simulator.store.list(plural)
    return objects


def _count(agent: Agent) -> int:
    return sum(agent.store.view.objects(k) for k in Kind)


async def _until_count(agent: Agent, count: int) -> None:
    """Until the store holds `count` objects (checked after each commit)."""
    commits = Commits(agent.store)
    try:
        with anyio.fail_after(15):
            while True:
                committed = commits.next()
                if _count(agent) == count:
                    return
                await committed.wait()
    finally:
        commits.close()


def _mode(fams: dict[str, Metric]) -> str:
    (labels,) = samples(fams, "kube_watchcache_metrics_cluster_mode")
    return dict(labels)["mode"]


def _needs_attention(pod: dict[str, Any]) -> bool:
    """The simulator's view of a pod summary mode keeps (written apart from the agent's)."""
    status = pod.get("status") or {}
    phase = status.get("phase", "Pending")
    if phase == "Succeeded":
        return False
    ready = next(
        (c["status"] for c in status.get("conditions") or [] if c["type"] == "Ready"), None
    )
    containers = status.get("containerStatuses") or []
    waiting = any("waiting" in (c.get("state") or {}) for c in containers)
    return phase != "Running" or ready != "True" or waiting


@pytest.fixture
def auto(agent: Agent) -> Any:
    """Auto mode with the settings the test sets, restored after it."""
    cluster = _cluster(agent)
    clock = cluster.clock
    yield cluster
    cluster.mode, cluster.objects_limit, cluster.clock = "objects", 20_000, clock
    cluster.effective_mode()  # forget auto mode's state
    cluster.mode = "auto"


async def test_counts_oscillating_around_the_limit_do_not_switch_modes_back_and_forth(
    agent: Agent, auto: ClusterCollector
) -> None:
    node = _sim(agent, "nodes")[0]["metadata"]["name"]
    base = _count(agent)
    auto.mode, auto.objects_limit = "objects", base + 1
    auto.effective_mode()  # leave auto mode: its choice starts afresh
    auto.mode = "auto"
    assert base + 1 - 2 > (base + 1) * LOW_WATER, "the cluster is too small for this test"
    now = 0.0
    auto.clock = lambda: now
    assert _mode(await families(agent)) == "objects"

    seen: list[tuple[str, bool]] = []
    assert agent.simulator is not None
    store = agent.simulator.store
    for i in range(4):
        # Up to two above the limit, then back to one under it (above the low water).
        for j in range(2):
            store.create("pods", make_pod(f"flap-{i}-{j}", node=node))
        await _until_count(agent, base + 2)
        fams = await families(agent)
        seen.append((_mode(fams), RESOURCE_FAMILIES[0] in fams))
        for j in range(2):
            store.delete("pods", "default", f"flap-{i}-{j}", grace_period_seconds=0)
        await _until_count(agent, base)
        now += DWELL_SECONDS / 2  # time passes, but the count never stays low long enough
        fams = await families(agent)
        seen.append((_mode(fams), RESOURCE_FAMILIES[0] in fams))
    assert seen == [("summary", False)] * len(seen)

    # Well under the limit for the whole dwell time: objects mode again, once.
    auto.objects_limit = base * 2
    assert _mode(await families(agent)) == "summary"  # the low count is seen from now on
    now += DWELL_SECONDS - 1
    assert _mode(await families(agent)) == "summary"
    now += 1
    fams = await families(agent)
    assert _mode(fams) == "objects"
    assert RESOURCE_FAMILIES[0] in fams


async def test_above_the_limit_alert_families_remain_for_problem_pods_only(
    agent: Agent, auto: ClusterCollector
) -> None:
    assert agent.scenario is not None
    crashing = Transitions(agent, lambda t: t.field.endswith("/waiting_reason"))
    agent.scenario.step("crash_loop")
    agent.scenario.advance(60)  # virtual time: the crash loop reaches its back-off
    target = agent.scenario.last_target
    assert target is not None
    await crashing.wait()

    auto.objects_limit = _count(agent) - 1
    fams = await settled_scrape(agent)
    assert _mode(fams) == "summary"
    pods = _sim(agent, "pods")
    troubled = [p for p in pods if _needs_attention(p)]
    healthy = [p for p in pods if not _needs_attention(p)]
    crashed = next(
        p for p in pods if (p["metadata"]["namespace"], p["metadata"]["name"]) == tuple(target)
    )
    assert crashed in troubled
    assert healthy, "the simulator should have healthy pods too"

    # The pod families hold exactly the problem pods, with the values objects mode has.
    for name, want in expected_pods(troubled).items():
        if name in RESOURCE_FAMILIES:
            assert name not in fams, f"{name}: a sum over some pods would mislead"
            continue
        got = samples(fams, name)
        assert got == want, f"{name}: {sorted(set(got.items()) ^ set(want.items()))[:6]}"
    on_crashed = {
        dict(k)["reason"]
        for k in samples(fams, "kube_pod_container_status_waiting_reason")
        if dict(k)["pod"] == crashed["metadata"]["name"]
    }
    assert on_crashed & {"CrashLoopBackOff", "RunContainerError"}, on_crashed
    exported = {dict(k)["pod"] for k in samples(fams, "kube_pod_status_phase")}
    assert not exported & {p["metadata"]["name"] for p in healthy}

    # Deployments and nodes: whole, as in objects mode; the aggregates ride along.
    for name, want in {
        **expected_deployments(_sim(agent, "deployments")),
        **expected_nodes(_sim(agent, "nodes")),
    }.items():
        assert samples(fams, name) == want, name
    namespaces = {p["metadata"]["namespace"] for p in pods}
    ready = samples(fams, "kube_watchcache_namespace_pods_ready")
    assert set(ready) == {key(namespace=ns) for ns in namespaces}


async def test_above_the_limit_a_failed_alert_build_still_serves_the_aggregates(
    agent: Agent, auto: ClusterCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(scope: str = "all") -> Any:
        raise RenderFailed(f"no {scope} build today")

    monkeypatch.setattr(auto.renderer, "build", broken)
    auto.objects_limit = _count(agent) - 1
    failures = auto.failures
    fams = await families(agent)
    assert _mode(fams) == "summary"
    assert "kube_watchcache_namespace_pods" in fams
    assert "kube_pod_status_phase" not in fams
    assert auto.failures == failures + 1
    monkeypatch.undo()
    assert "kube_pod_status_phase" in await families(agent)  # the next scrape is whole again
