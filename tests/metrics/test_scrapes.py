"""Scrapes share one snapshot when concurrent, never hold up ingestion, and survive a bad store."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from mcpserver.agent import Agent
from mcpserver.ksm.renderer import Built
from mcpserver.ksm.worker import RenderWorker
from store import Kind, StoreUnavailable
from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import Transitions, base_url, converge, families, samples

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(tmp_path_factory.mktemp("scrapes"), metrics_mode="objects") as running:
        yield running


class Gate:
    """Wraps the build of a snapshot so that it waits until the test opens the gate."""

    def __init__(self, build: Callable[[], Awaitable[Built]]) -> None:
        self.build = build
        self.opened = anyio.Event()
        self.reads = 0

    async def __call__(self) -> Built:
        self.reads += 1
        with anyio.fail_after(30):
            await self.opened.wait()
        return await self.build()


async def test_concurrent_scrapes_share_one_snapshot(agent: Agent) -> None:
    cluster = agent.metrics.cluster
    assert cluster is not None
    real = cluster.build_objects
    gate = Gate(real)
    cluster.build_objects = gate
    builds, coalesced = cluster.builds["objects"], cluster.coalesced
    bodies: list[str] = []
    try:
        async with httpx.AsyncClient(timeout=30) as http:

            async def one() -> None:
                response = await http.get(base_url(agent) + "/metrics")
                assert response.status_code == 200
                bodies.append(response.text)

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for _ in range(5):
                        tg.start_soon(one)
                    await cluster.until_waiting(4)  # one scrape builds, four wait on it
                    gate.opened.set()
    finally:
        cluster.build_objects = real
    assert gate.reads == 1
    assert cluster.builds["objects"] == builds + 1
    assert cluster.coalesced == coalesced + 4
    phases = {_lines(body, "kube_pod_status_phase{") for body in bodies}
    assert len(phases) == 1
    assert next(iter(phases))
    fams = await families(agent)
    assert samples(fams, "kube_watchcache_metrics_coalesced_scrapes_total")[()] >= 4


def _lines(body: str, prefix: str) -> str:
    return "".join(line for line in body.splitlines(keepends=True) if line.startswith(prefix))


async def test_ingestion_goes_on_while_a_scrape_reads_the_store(agent: Agent) -> None:
    """A snapshot read held open (in its read transaction) blocks neither the loop nor commits."""
    cluster = agent.metrics.cluster
    assert cluster is not None
    assert agent.scenario is not None
    in_transaction = threading.Event()
    release = threading.Event()
    real = cluster.build_objects

    def hold_a_read() -> None:
        import sqlite3

        path = agent.store.path
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM pods").fetchone()  # the read snapshot starts here
            in_transaction.set()
            release.wait(timeout=30)
            conn.execute("COMMIT")
        finally:
            conn.close()

    async def held_read() -> Built:
        await anyio.to_thread.run_sync(hold_a_read)
        return await real()

    cluster.build_objects = held_read
    try:
        async with anyio.create_task_group() as tg:

            async def scrape() -> None:
                await families(agent)

            tg.start_soon(scrape)
            with anyio.fail_after(10):
                await anyio.to_thread.run_sync(in_transaction.wait)
            # While that read transaction is open: a cluster change is ingested and committed.
            scaled = Transitions(agent, lambda t: t.kind is Kind.DEPLOYMENT)
            agent.scenario.step("scale")
            await scaled.wait(within=10)
            await converge(agent, within=10)
            release.set()
    finally:
        release.set()
        cluster.build_objects = real


async def test_a_store_that_cannot_be_read_leaves_only_the_cluster_gauges_out(
    agent: Agent,
) -> None:
    cluster = agent.metrics.cluster
    assert cluster is not None
    failures = cluster.failures
    real = cluster.build_objects

    async def broken() -> Any:
        raise StoreUnavailable(f"cannot read database {agent.store.path} (disk on fire)")

    cluster.build_objects = broken
    try:
        fams = await families(agent)
    finally:
        cluster.build_objects = real
    assert "kube_pod_status_phase" not in fams
    assert "kube_watchcache_metrics_cluster_mode" not in fams
    assert cluster.failures == failures + 1
    assert samples(fams, "kube_watchcache_metrics_snapshot_failures_total")[()] == failures + 1
    assert "kube_watchcache_watch_events" in fams
    assert "kube_pod_status_phase" in await families(agent)  # the next scrape is whole again


async def test_only_the_leader_exports_the_cluster_gauges(agent: Agent) -> None:
    """The switch is read at each scrape: leadership moving is seen by the next scrape."""
    leading = False
    agent.metrics.set_cluster_gauges_enabled(lambda: leading)
    try:
        fams = await families(agent)
        assert not any(
            name.startswith(("kube_pod_", "kube_node_", "kube_deployment_")) for name in fams
        )
        assert "kube_watchcache_metrics_cluster_mode" not in fams
        assert "kube_watchcache_store_objects" in fams  # its own metrics: always
        leading = True
        assert "kube_node_status_condition" in await families(agent)
        agent.metrics.set_cluster_gauges_enabled(False)
        assert "kube_node_status_condition" not in await families(agent)
    finally:
        agent.metrics.set_cluster_gauges_enabled(True)
    assert "kube_node_status_condition" in await families(agent)


async def test_objects_mode_renders_in_a_child_process_that_summary_mode_stops(
    agent: Agent,
) -> None:
    cluster = agent.metrics.cluster
    assert cluster is not None
    assert "kube_pod_info" in await families(agent)
    worker = cluster.renderer
    assert isinstance(worker, RenderWorker)

    def pid() -> int | None:
        return worker.pid

    assert pid() not in (None, os.getpid())
    cluster.mode = "summary"
    try:
        assert "kube_watchcache_namespace_pods" in await families(agent)
        assert pid() is None  # objects mode not in use: its memory given back
    finally:
        cluster.mode = "objects"
    assert "kube_pod_info" in await families(agent)
    await agent.metrics.aclose()
    assert pid() is None
    assert "kube_pod_info" in await families(agent)  # a later scrape starts another
    assert pid() is not None
