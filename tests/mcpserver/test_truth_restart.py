"""Freshness belongs to this process, and a state file to its cluster (issue #17, defects 1-2).

Real agents on real simulators over loopback, with a real SQLite file that
outlives the agent: a restart must not call restored rows fresh, and a file
of another cluster must not be served, nor its history kept, as this one's.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from mcpserver.agent import Agent, running_agent
from mcpserver.config import Settings
from simulator import ObjectStore, Scenario, SimClock, Simulator
from store import ClaimVerdict, Kind

from .conftest import mcp_client, start_agent, text_of

pytestmark = pytest.mark.anyio

RESTORED = "Pod: restored from the state file (last confirmed "


async def _ready(agent: Agent) -> httpx.Response:
    assert agent.url is not None
    async with httpx.AsyncClient() as http:
        return await http.get(agent.url.removesuffix("/mcp") + "/ready")


async def _tool(agent: Agent, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    assert agent.url is not None
    async with mcp_client(agent.url) as client:
        result = await client.call_tool(name, arguments)
    assert not result.is_error, result
    assert result.structured_content is not None
    return result.structured_content


async def _until(condition: Callable[[], Any], *, within: float = 30.0) -> None:
    """Poll `condition` (an HTTP answer from another task has no event to await)."""
    with anyio.fail_after(within):
        while True:
            if await condition():
                return
            await anyio.sleep(0.05)


@contextlib.asynccontextmanager
async def _cluster(seed: int) -> AsyncIterator[Simulator]:
    objects = ObjectStore(clock=SimClock(datetime.now(UTC)))
    Scenario(
        objects, seed=seed, nodes=4, deployments=5, pods_per_deployment=2, churn=0.0
    ).populate()
    async with Simulator(store=objects, bookmark_interval=0.5) as sim:
        yield sim


@contextlib.asynccontextmanager
async def _agent(sim: Simulator, tmp_path: Path) -> AsyncIterator[Agent]:
    kubeconfig = tmp_path / "kubeconfig"
    if sim.running:  # else the one written while it ran, naming the same address
        sim.write_kubeconfig(kubeconfig)
    settings = Settings(
        kubeconfig=kubeconfig,
        port=0,
        db=tmp_path / "state.db",
        log_level="warning",
    )
    async with running_agent(settings) as agent:
        yield agent


async def _synced(agent: Agent) -> None:
    with anyio.fail_after(30):
        await agent.informers.wait_synced()
        await agent.store.writer.flush()


async def test_restart_is_stale_and_not_ready_until_this_process_listed(tmp_path: Path) -> None:
    async with start_agent(tmp_path):
        pass  # listed, synced, stopped: the state file holds the cluster

    def hold_pod_lists(sim: Any, scenario: Any) -> None:
        # The first list of pods (streaming, or paged after a refusal) waits, so the
        # window between start and that list is wide enough to look into.
        sim.faults.delay(6.0, count=2, resource="pods")

    async with start_agent(tmp_path, wait_synced=False, on_connect=hold_pod_lists) as agent:
        early = await _ready(agent)
        assert early.status_code == 503
        assert RESTORED in early.json()["reason"]
        answer = await _tool(agent, "list_pods", {})
        freshness = answer["freshness"]
        assert freshness["stale"] is True
        assert any(
            r.startswith(RESTORED) and "not yet re-listed" in r for r in freshness["reasons"]
        )
        pods = freshness["kinds"]["Pod"]
        assert pods["synced"] is False
        assert pods["restored_at"] is not None
        assert pods["seconds_since_confirmed"] is not None
        assert answer["total"] > 0  # the restored rows are served meanwhile

        await _synced(agent)
        assert (await _ready(agent)).status_code == 200
        fresh = (await _tool(agent, "list_pods", {}))["freshness"]
        assert fresh["stale"] is False
        assert fresh["reasons"] == []
        assert fresh["kinds"]["Pod"]["restored_at"] is None
        assert fresh["kinds"]["Pod"]["synced"] is True


async def test_restart_with_the_api_server_unreachable_stays_stale_and_not_ready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with _cluster(seed=5) as sim:
        async with _agent(sim, tmp_path) as agent:
            await _synced(agent)
        await sim.stop()  # the API server is gone when the agent starts again
        with caplog.at_level(logging.DEBUG, logger="watcher.identity"):  # a line a try
            async with _agent(sim, tmp_path) as agent:
                checked = 0

                def failures() -> int:
                    return sum(
                        "cannot read the cluster's identity" in r.message for r in caplog.records
                    )

                async def two_failures_seen() -> bool:
                    nonlocal checked
                    ready = await _ready(agent)
                    assert ready.status_code == 503
                    assert RESTORED in ready.json()["reason"]
                    freshness = (await _tool(agent, "list_pods", {}))["freshness"]
                    assert freshness["stale"] is True
                    assert any(r.startswith(RESTORED) for r in freshness["reasons"])
                    checked += 1
                    return failures() >= 2

                await _until(two_failures_seen)
                assert checked >= 1
                freshness = (await _tool(agent, "list_pods", {}))["freshness"]
                assert "cannot read the cluster's identity" in (freshness["kinds"]["Pod"]["error"])
                await sim.start()  # back, on the same address

                async def ready() -> bool:
                    return (await _ready(agent)).status_code == 200

                await _until(ready, within=60)
                fresh = (await _tool(agent, "list_pods", {}))["freshness"]
                assert fresh["stale"] is False
                assert agent.claim is not None
                assert agent.claim.verdict is ClaimVerdict.SAME


async def test_a_state_file_of_another_cluster_is_moved_aside_with_its_history(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with _cluster(seed=11) as first, _agent(first, tmp_path) as agent:
        await _synced(agent)
        first_history = await agent.store.reader.history(since=0, limit=1000)
        assert first_history  # the first sync recorded what it saw
        kept = first.store.list("pods")[0]["metadata"]
        first_uids = {c.uid for c in first_history}
        first_uids |= {p["metadata"]["uid"] for p in first.store.list("pods")}
        old_names = {c.name for c in first_history}
        first_uid = first.store.get("namespaces", None, "kube-system")["metadata"]["uid"]
    async with _cluster(seed=12) as second:
        second_uid = second.store.get("namespaces", None, "kube-system")["metadata"]["uid"]
        assert second_uid != first_uid  # two seeds, two clusters
        second.faults.delay(6.0, count=2, resource="pods")  # the window after the claim
        with caplog.at_level(logging.WARNING, logger="store"):
            async with _agent(second, tmp_path) as agent:
                with anyio.fail_after(30):
                    await agent.claimed.wait()
                claim = agent.claim
                assert claim is not None
                assert claim.verdict is ClaimVerdict.MOVED_ASIDE
                # Nothing of the first cluster is served, not even stale.
                assert agent.store.view.objects(Kind.POD) == 0
                listed = await _tool(agent, "list_pods", {"namespace": kept["namespace"]})
                assert kept["name"] not in [p["name"] for p in listed["items"]]
                await _synced(agent)
                pods = await _tool(agent, "list_pods", {"limit": 100})
                assert pods["total"] == len(second.store.list("pods"))
                assert kept["name"] not in [p["name"] for p in pods["items"]]
                history = await agent.store.reader.history(since=0, limit=1000)
                assert history
                assert not [c for c in history if c.uid in first_uids]
                assert agent.url is not None
                async with mcp_client(agent.url) as client:
                    changes = await client.call_tool("recent_changes", {"since": "1h"})
                second_names = {p["metadata"]["name"] for p in second.store.list("pods")}
                assert not [n for n in old_names - second_names if n in text_of(changes)]
    moved = [r.getMessage() for r in caplog.records if "moved it aside" in r.getMessage()]
    assert len(moved) == 1
    assert first_uid in moved[0]
    assert second_uid in moved[0]
    assert claim.moved_to is not None
    assert claim.moved_to.name.startswith("state.db.other-cluster-")
    assert await anyio.Path(claim.moved_to).exists()
    assert str(claim.moved_to) in moved[0]


async def test_an_error_in_the_sync_state_makes_answers_stale_at_once(tmp_path: Path) -> None:
    async with start_agent(tmp_path, stale_after=3600.0) as agent:
        assert (await _tool(agent, "list_nodes", {}))["freshness"]["stale"] is False
        await agent.store.writer.sync(Kind.NODE, error="watch stream silent for 15 s")
        await agent.store.writer.flush()
        freshness = (await _tool(agent, "list_nodes", {}))["freshness"]
        assert freshness["stale"] is True
        assert any(
            r.startswith("Node: watch failing since") and "silent for 15 s" in r
            for r in freshness["reasons"]
        )
        assert freshness["kinds"]["Node"]["error_since"] is not None
        # /ready tolerates an error for --stale-after; answers never do.
        assert (await _ready(agent)).status_code == 200
        await agent.store.writer.sync(Kind.NODE, resource_version="999999")  # proof of life
        await agent.store.writer.flush()
        assert (await _tool(agent, "list_nodes", {}))["freshness"]["stale"] is False


async def test_an_error_lasting_beyond_stale_after_fails_ready(tmp_path: Path) -> None:
    async with start_agent(tmp_path, stale_after=0.0) as agent:
        assert (await _ready(agent)).status_code == 200
        await agent.store.writer.sync(Kind.NODE, error="HTTP 500 InternalError")
        await agent.store.writer.flush()
        failing = await _ready(agent)
        assert failing.status_code == 503
        assert "Node: watch failing since" in failing.json()["reason"]
        assert "--stale-after" in failing.json()["reason"]
