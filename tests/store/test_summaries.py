"""Summaries by namespace, node and deployment, and for the cluster, from incremental aggregates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store import Delta, InvalidQuery, Kind, Store, open_store
from store.view import TopK

from .factories import container, crash_looping, deployment, evolve, node, pod

pytestmark = pytest.mark.anyio

MI = 2**20


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(tmp_path / "state.db") as s:
        deltas = [
            Delta(
                Kind.NODE,
                "ADDED",
                node("node-a", cpu_allocatable_m=2000, memory_allocatable_bytes=4096 * MI),
            ),
            Delta(
                Kind.NODE,
                "ADDED",
                node(
                    "node-b",
                    cpu_allocatable_m=4000,
                    memory_allocatable_bytes=8192 * MI,
                    unschedulable=True,
                    status="Ready,SchedulingDisabled",
                ),
            ),
            Delta(
                Kind.DEPLOYMENT,
                "ADDED",
                deployment("web", available_replicas=2, ready_replicas=2, unavailable_replicas=1),
            ),
            Delta(Kind.DEPLOYMENT, "ADDED", deployment("api", namespace="core")),
        ]
        for i in range(3):
            deltas.append(
                Delta(
                    Kind.POD,
                    "ADDED",
                    pod(
                        f"web-{i}",
                        node="node-a",
                        containers=(
                            container(
                                cpu_request_m=500,
                                memory_request_bytes=512 * MI,
                                cpu_limit_m=1000,
                                memory_limit_bytes=1024 * MI,
                            ),
                        ),
                        cpu_request_m=500,
                        cpu_limit_m=1000,
                        memory_request_bytes=512 * MI,
                        memory_limit_bytes=1024 * MI,
                    ),
                )
            )
        deltas.append(
            Delta(
                Kind.POD,
                "ADDED",
                pod(
                    "api-0",
                    namespace="core",
                    deployment="api",
                    node="node-b",
                    cpu_request_m=1000,
                    memory_request_bytes=2048 * MI,
                ),
            )
        )
        # A completed job: counted as a pod, but its requests no longer reserve anything.
        deltas.append(
            Delta(
                Kind.POD,
                "ADDED",
                pod(
                    "job-0",
                    namespace="core",
                    deployment=None,
                    node="node-b",
                    phase="Succeeded",
                    ready=False,
                    status="Completed",
                    cpu_request_m=3000,
                ),
            )
        )
        await s.writer.apply(deltas)
        yield s


async def test_namespace_summaries(store: Store) -> None:
    core, shop = await store.namespace_summaries(sort_by="name")
    assert (core.namespace, shop.namespace) == ("core", "shop")
    assert (shop.pods, shop.ready, shop.ready_ratio) == (3, 3, 1.0)
    assert (shop.cpu_request_m, shop.cpu_limit_m) == (1500, 3000)
    assert (shop.memory_request_bytes, shop.memory_limit_bytes) == (1536 * MI, 3072 * MI)
    assert shop.deployments == 1
    assert core.phases == {"Running": 1, "Succeeded": 1}
    assert core.statuses == {"Running": 1, "Completed": 1}
    assert core.cpu_request_m == 1000  # the completed job is not counted
    assert core.ready_ratio == 0.5
    top = await store.namespace_summaries(sort_by="pods", limit=1)
    assert [s.namespace for s in top] == ["shop"]
    only = await store.namespace_summaries(namespace="core")
    assert [s.namespace for s in only] == ["core"]


async def test_node_summaries_requested_versus_allocatable(store: Store) -> None:
    a, b = await store.node_summaries(sort_by="name")
    assert (a.node, a.pods, a.cpu_request_m, a.cpu_allocatable_m) == ("node-a", 3, 1500, 2000)
    assert a.cpu_requested_pct == 75.0
    assert a.memory_requested_pct == 37.5
    assert a.pods_pct == round(300 / 110, 2)
    assert (b.unschedulable, b.status, b.cpu_requested_pct) == (
        True,
        "Ready,SchedulingDisabled",
        25.0,
    )
    busiest = await store.node_summaries(sort_by="cpu_requested_pct", limit=1)
    assert [n.node for n in busiest] == ["node-a"]
    assert [n.node for n in await store.node_summaries(node="node-b")] == ["node-b"]


async def test_deployment_summaries_with_restarts_in_the_last_hour(store: Store) -> None:
    web = await store.reader.get_pod("shop", "web-1")
    assert web is not None
    for n in (1, 3):
        web = evolve(
            web,
            containers=(
                crash_looping(restarts=n, cpu_request_m=500, memory_request_bytes=512 * MI),
            ),
            restarts=n,
            ready=False,
        )
        await store.writer.apply([Delta(Kind.POD, "MODIFIED", web)])
    top = await store.deployment_summaries(sort_by="restarts_last_hour")
    assert [(d.name, d.restarts_last_hour, d.restarts) for d in top] == [("web", 3, 3)]
    web_summary = top[0]
    assert (
        web_summary.desired,
        web_summary.available_replicas,
        web_summary.pods,
        web_summary.ready,
    ) == (3, 2, 3, 2)
    unavailable = await store.deployment_summaries(sort_by="unavailable", limit=1)
    assert [d.name for d in unavailable] == ["web"]
    nodes = await store.node_summaries(sort_by="restarts_last_hour", limit=1)
    assert (nodes[0].node, nodes[0].restarts_last_hour) == ("node-a", 3)


async def test_cluster_summary(store: Store) -> None:
    summary = await store.cluster_summary(top=1)
    assert summary.namespaces == 2
    assert (summary.pods.pods, summary.pods.ready, summary.pods.cpu_request_m) == (5, 4, 2500)
    assert summary.pods.phases == {"Running": 4, "Succeeded": 1}
    assert (summary.nodes.nodes, summary.nodes.ready, summary.nodes.cordoned) == (2, 2, 1)
    assert summary.nodes.cpu_allocatable_m == 6000
    assert summary.nodes.cpu_requested_pct == round(100 * 2500 / 6000, 2)
    assert (
        summary.deployments.deployments,
        summary.deployments.degraded,
        summary.deployments.down,
    ) == (2, 1, 0)
    assert summary.deployments.desired_replicas == 6
    assert [n.namespace for n in summary.top_namespaces_by_pods] == ["shop"]
    assert [n.node for n in summary.top_nodes_by_cpu] == ["node-a"]
    assert summary.top_deployments_by_restarts == []


async def test_summaries_follow_deletions(store: Store) -> None:
    job = await store.reader.get_pod("core", "job-0")
    api = await store.reader.get_pod("core", "api-0")
    assert job is not None
    assert api is not None
    await store.writer.apply([Delta(Kind.POD, "DELETED", job), Delta(Kind.POD, "DELETED", api)])
    names = [s.namespace for s in await store.namespace_summaries(sort_by="name")]
    assert names == ["shop"]
    b = (await store.node_summaries(node="node-b"))[0]
    assert (b.pods, b.cpu_request_m, b.cpu_requested_pct) == (0, 0, 0.0)


async def test_unknown_sort_is_a_clear_error(store: Store) -> None:
    with pytest.raises(InvalidQuery, match="cannot sort by"):
        await store.node_summaries(sort_by="vibes")


@given(
    st.lists(
        st.tuples(st.sampled_from("abcdefghij"), st.one_of(st.none(), st.integers(0, 5))),
        max_size=60,
    ),
    st.integers(1, 6),
)
def test_top_k_ranking_matches_a_full_sort(updates: list[tuple[str, int | None]], n: int) -> None:
    top = TopK(4)
    scores: dict[str, float] = {}
    for i, (key, score) in enumerate(updates):
        if score is None:
            top.discard(key)
            scores.pop(key, None)
        else:
            top.set(key, float(score))
            scores[key] = float(score)
        if i % 7 == 0 or i == len(updates) - 1:
            expected = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
            assert top.top(n) == expected
