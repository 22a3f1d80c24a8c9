"""StatefulSets end to end: the simulator's seeded sets, watched, stored, analyzed and served.

A real agent on the simulated cluster (three seeded StatefulSets: a healthy
`postgres`, a `redis` with a crash-looping replica, a `kafka` whose rollout
is stuck on an image that cannot be pulled), read through the SDK's client,
/metrics and a resource; then a change made through the simulator's API
reaches the answers through the watch.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from mcpserver.agent import Agent
from store import Transition
from tests.mcpserver.conftest import SMALL_CLUSTER, mcp_client, start_agent

pytestmark = pytest.mark.anyio

WITH_STATEFULSETS = {**SMALL_CLUSTER, "statefulsets": 1}
# The simulator seeds its StatefulSets in the last application namespace of this shape.
NAMESPACE = "platform"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(tmp_path_factory.mktemp("sts"), shape=WITH_STATEFULSETS) as agent:
        # Virtual time: redis-2's restarts reach their back-off, kafka-2 is replaced by a
        # pod of the new revision that cannot pull its image.
        agent.scenario.advance(120)
        await _until(agent, _seeded_trouble_shows)
        yield agent


async def _seeded_trouble_shows(agent: Agent) -> bool:
    redis = await agent.store.reader.get_pod(NAMESPACE, "redis-2")
    kafka = await agent.store.reader.get_pod(NAMESPACE, "kafka-2")
    return (
        redis is not None
        and redis.status == "CrashLoopBackOff"
        and kafka is not None
        and kafka.status == "ImagePullBackOff"
    )


def _setting(event: anyio.Event) -> Callable[[Sequence[Transition]], None]:
    return lambda _transitions: event.set()


async def _until(agent: Agent, check: Callable[[Agent], Awaitable[bool]]) -> None:
    """Until `check` holds, re-checked after each commit that changed a status."""
    with anyio.fail_after(20):
        while True:
            committed = anyio.Event()
            unsubscribe = agent.store.writer.subscribe(_setting(committed))
            try:
                if await check(agent):
                    return
                await committed.wait()
            finally:
                unsubscribe()


def _url(agent: Agent) -> str:
    assert agent.url is not None
    return agent.url


async def _call(agent: Agent, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async with mcp_client(_url(agent)) as client:
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    data = result.structured_content
    assert isinstance(data, dict)
    return data


async def _sets(agent: Agent) -> dict[str, dict[str, Any]]:
    listed = await _call(agent, "list_objects", {"kind": "StatefulSet"})
    return {item["name"]: item for item in listed["items"]}


async def test_the_seeded_sets_are_listed_with_their_state(agent: Agent) -> None:
    listed = await _call(agent, "list_objects", {"kind": "StatefulSet"})
    assert listed["kind"] == "StatefulSet"
    assert listed["total"] == 3
    assert listed["freshness"]["kinds"]["StatefulSet"]["synced"] is True
    sets = {item["name"]: item for item in listed["items"]}
    assert sets["postgres"]["status"] == "Available"
    assert (sets["redis"]["status"], sets["redis"]["ready"]) == ("Degraded", 2)
    assert sets["redis"]["rollout"] == "complete"
    kafka = sets["kafka"]
    assert (kafka["status"], kafka["rollout"]) == ("Progressing", "progressing")
    assert kafka["current_revision"] != kafka["update_revision"]
    problems = await _call(agent, "list_objects", {"kind": "StatefulSet", "status": "Degraded"})
    assert [item["name"] for item in problems["items"]] == ["redis"]


async def test_one_set_in_detail_with_its_pods_and_findings(agent: Agent) -> None:
    namespace = (await _sets(agent))["redis"]["namespace"]
    detail = await _call(
        agent, "get_object", {"kind": "StatefulSet", "namespace": namespace, "name": "redis"}
    )
    assert detail["object"]["update_strategy"] == "RollingUpdate"
    assert detail["pods_total"] == 3
    assert sorted(p["name"] for p in detail["pods"]) == ["redis-0", "redis-1", "redis-2"]
    assert detail["pods"][0]["name"] == "redis-2"  # the broken one first
    # Just seen: inside its grace period, shown as pending with the time it counts.
    pending = {f["check"]: f for f in detail["pending_findings"]}
    assert pending["statefulset.replicas_not_ready"]["counts_at"]
    changes = {c["field"] for c in detail["recent_changes"]}
    assert "replicas/ready" in changes
    stuck = await _call(
        agent, "get_object", {"kind": "StatefulSet", "namespace": namespace, "name": "kafka"}
    )
    assert {f["check"] for f in stuck["pending_findings"]} == {
        "statefulset.replicas_not_ready",
        "statefulset.update_stuck",
    }
    missing = await _missing(agent, namespace)
    assert "StatefulSet" in missing
    assert "not in the watch cache" in missing


async def _missing(agent: Agent, namespace: str) -> str:
    async with mcp_client(_url(agent)) as client:
        result = await client.call_tool(
            "get_object", {"kind": "StatefulSet", "namespace": namespace, "name": "nope"}
        )
    assert result.is_error
    return "".join(getattr(block, "text", "") for block in result.content)


async def test_health_counts_them_and_recent_changes_filters_by_kind(agent: Agent) -> None:
    health = await _call(agent, "cluster_health", {"kind": "StatefulSet"})
    assert health["pending_total"] == 2
    assert set(health["pending_by_check"]) == {
        "statefulset.replicas_not_ready",
        "statefulset.update_stuck",
    }
    changes = await _call(agent, "recent_changes", {"kind": "StatefulSet"})
    assert changes["by_kind"] == {"StatefulSet": changes["total"]}
    assert {o["name"] for o in changes["by_object"]} == {"redis", "kafka"}


async def test_a_resource_per_set(agent: Agent) -> None:
    namespace = (await _sets(agent))["kafka"]["namespace"]
    async with mcp_client(_url(agent)) as client:
        templates = await client.list_resource_templates()
        assert "k8s://statefulsets/{namespace}/{name}" in {
            t.uri_template for t in templates.resource_templates
        }
        read = await client.read_resource(f"k8s://statefulsets/{namespace}/kafka")
    document = json.loads(read.contents[0].text)  # type: ignore[union-attr]
    assert (document["kind"], document["object"]["name"]) == ("StatefulSet", "kafka")


async def test_metrics_carry_kube_state_metrics_statefulset_families(agent: Agent) -> None:
    namespace = (await _sets(agent))["redis"]["namespace"]
    assert agent.url is not None
    async with httpx.AsyncClient() as http:
        text = (await http.get(agent.url.removesuffix("/mcp") + "/metrics")).text
    assert "# TYPE kube_statefulset_status_replicas_ready gauge" in text
    assert (
        f'kube_statefulset_status_replicas_ready{{namespace="{namespace}",statefulset="redis"}} 2'
        in text
    )
    assert f'kube_statefulset_replicas{{namespace="{namespace}",statefulset="postgres"}} 3' in text


@pytest.fixture
async def own_agent(tmp_path: Path) -> AsyncIterator[Agent]:
    """An agent of the test's own: the test changes its cluster."""
    async with start_agent(tmp_path, shape=WITH_STATEFULSETS) as agent:
        yield agent


async def test_a_scale_through_the_api_reaches_the_answers(own_agent: Agent) -> None:
    agent = own_agent
    namespace = (await _sets(agent))["postgres"]["namespace"]
    scaled = anyio.Event()

    def heard(transitions: Sequence[Transition]) -> None:
        if any(t.name == "postgres" and t.field == "replicas/ready" for t in transitions):
            scaled.set()

    unsubscribe = agent.store.writer.subscribe(heard)
    path = f"/apis/apps/v1/namespaces/{namespace}/statefulsets/postgres"
    try:
        async with httpx.AsyncClient(base_url=agent.simulator.url) as api:
            response = await api.patch(
                path,
                json={"spec": {"replicas": 4}},
                headers={"Content-Type": "application/merge-patch+json"},
            )
        assert response.status_code == 200, response.text
        agent.scenario.settle()  # the simulated controllers create postgres-3 and report it
        with anyio.fail_after(15):
            await scaled.wait()
    finally:
        unsubscribe()
    assert (await _sets(agent))["postgres"]["replicas"] == 4
    detail = await _call(
        agent, "get_object", {"kind": "StatefulSet", "namespace": namespace, "name": "postgres"}
    )
    assert "postgres-3" in {p["name"] for p in detail["pods"]}
