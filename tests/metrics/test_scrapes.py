"""Scrapes share one snapshot when concurrent, never hold up ingestion, and survive a bad store."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from mcpserver.agent import Agent
from store import Kind, StoreUnavailable
from store.snapshot import ObjectsSnapshot
from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import Transitions, base_url, converge, families, samples

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(tmp_path_factory.mktemp("scrapes"), metrics_mode="objects") as running:
        yield running


class Gate:
    """Wraps the store read of a snapshot so that it waits until the test opens the gate."""

    def __init__(self, read: Callable[[], ObjectsSnapshot]) -> None:
        self.read = read
        self.opened = threading.Event()
        self.reads = 0

    def __call__(self) -> ObjectsSnapshot:
        self.reads += 1
        if not self.opened.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        return self.read()


async def test_concurrent_scrapes_share_one_snapshot(agent: Agent) -> None:
    cluster = agent.metrics.cluster
    assert cluster is not None
    gate = Gate(cluster.reader.read)
    cluster.read_objects = gate
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
        cluster.read_objects = cluster.reader.read
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

    def held_read() -> ObjectsSnapshot:
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
        return cluster.reader.read()

    cluster.read_objects = held_read
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
        cluster.read_objects = cluster.reader.read


async def test_a_store_that_cannot_be_read_leaves_only_the_cluster_gauges_out(
    agent: Agent,
) -> None:
    cluster = agent.metrics.cluster
    assert cluster is not None
    failures = cluster.failures

    def broken() -> Any:
        raise StoreUnavailable(f"cannot read database {agent.store.path} (disk on fire)")

    cluster.read_objects = broken
    try:
        fams = await families(agent)
    finally:
        cluster.read_objects = cluster.reader.read
    assert "kube_pod_status_phase" not in fams
    assert "kube_watchcache_metrics_cluster_mode" not in fams
    assert cluster.failures == failures + 1
    assert samples(fams, "kube_watchcache_metrics_snapshot_failures_total")[()] == failures + 1
    assert "kube_watchcache_watch_events" in fams
    assert "kube_pod_status_phase" in await families(agent)  # the next scrape is whole again


async def test_a_standby_replica_can_leave_the_cluster_gauges_out(agent: Agent) -> None:
    cluster = agent.metrics.cluster
    assert cluster is not None
    cluster.enabled = False
    try:
        fams = await families(agent)
    finally:
        cluster.enabled = True
    assert not any(
        name.startswith(("kube_pod_", "kube_node_", "kube_deployment_")) for name in fams
    )
    assert "kube_watchcache_store_objects" in fams
    assert "kube_node_status_condition" in await families(agent)
