"""/metrics names why the agent relisted after the API server's history was reset.

The whole agent (embedded simulator, informers, SQLite store, HTTP app) with
its production watch settings: the simulator restarts as a restored control
plane and answers the agent's old resourceVersion as the API server does,
after its 3 s wait, with 504 "Too large resource version".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcpserver.agent import Agent
from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import converge, families, key, samples

pytestmark = pytest.mark.anyio


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[Agent]:
    async with start_agent(tmp_path) as running:
        yield running


async def test_relists_after_a_history_reset_are_counted_by_reason(agent: Agent) -> None:
    sim = agent.simulator
    assert sim is not None
    # One change per kind, so that every watch holds a version above what the
    # restored server will number its objects up to (resourceVersions cannot
    # tell a restore that lands exactly on a version a client holds).
    for plural in ("pods", "deployments", "nodes", "replicasets"):
        obj = sim.store.list(plural)[0]
        obj["metadata"].setdefault("labels", {})["touched"] = "yes"
        sim.store.update(plural, obj)
    await converge(agent)
    await sim.restart(history_reset=True)
    await converge(agent)
    fams = await families(agent)
    relists = samples(fams, "kube_watchcache_relists_total")
    restarts = samples(fams, "kube_watchcache_watch_restarts_total")
    for kind in ("pods", "deployments", "nodes"):
        assert relists[key(kind=kind, reason="too-large")] >= 1, relists
        assert restarts[key(kind=kind, reason="too-large")] >= 1, restarts
