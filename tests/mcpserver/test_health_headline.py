"""The health headline says OK only when the agent can see that it is.

Through the SDK client against a real agent on the simulator: before the
first list, and with the API server failing every request, the status is
`unknown` with the reason; a filter that matches nothing says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcpserver.agent import Agent
from tests.mcpserver.conftest import mcp_client, start_agent, text_of

pytestmark = pytest.mark.anyio


async def _health(agent: Agent, **args: Any) -> tuple[dict[str, Any], str]:
    assert agent.url is not None
    async with mcp_client(agent.url) as client:
        result = await client.call_tool("cluster_health", args)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content, text_of(result)


async def test_unknown_before_anything_is_listed(tmp_path: Path) -> None:
    def slow_lists(sim: Any, scenario: Any) -> None:
        sim.faults.delay(3.0, count=8)  # the informers' first requests

    async with start_agent(tmp_path, wait_synced=False, on_connect=slow_lists) as agent:
        health, text = await _health(agent)
        assert health["status"] == "unknown"
        assert health["unknown_reasons"]
        assert text.startswith("Cluster UNKNOWN")
        assert "OK" not in text.splitlines()[0]
        with anyio.fail_after(20):
            await agent.informers.wait_synced()
            await agent.store.writer.flush()
        synced, synced_text = await _health(agent)
        assert synced["status"] in ("ok", "warning", "critical")
        assert synced["unknown_reasons"] == []
        assert "UNKNOWN" not in synced_text.splitlines()[0]


async def test_unknown_while_the_api_server_fails_every_request(tmp_path: Path) -> None:
    def unreachable(sim: Any, scenario: Any) -> None:
        sim.faults.fail_next(100_000, status=503)

    async with start_agent(tmp_path, wait_synced=False, on_connect=unreachable) as agent:
        assert agent.simulator is not None
        with anyio.fail_after(10):
            while True:  # until the informers have tried, and failed
                if agent.simulator.requests.total >= 3:
                    break
                await anyio.sleep(0.05)
        health, text = await _health(agent)
        assert health["status"] == "unknown"
        assert health["total_findings"] == 0
        assert text.startswith("Cluster UNKNOWN")
        for kind in ("Pod", "Deployment", "Node"):
            assert any(r.startswith(kind) for r in health["unknown_reasons"]), health


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(tmp_path_factory.mktemp("headline")) as running:
        yield running


async def test_a_namespace_that_does_not_exist_matches_nothing(agent: Agent) -> None:
    health, text = await _health(agent, namespace="nope")
    assert health["status"] == "no_match"
    assert text.startswith('Namespace "nope" NO MATCH')
    assert "nope" in health["headline"]


async def test_a_node_or_kind_filter_that_matches_nothing_says_so(agent: Agent) -> None:
    health, text = await _health(agent, node="no-such-node")
    assert health["status"] == "no_match"
    assert "no-such-node" in text.splitlines()[0]
    # A namespace that exists answers about it, not "no match".
    pods = agent.store.view.by_namespace
    namespace = next(iter(pods))
    real, _ = await _health(agent, namespace=namespace)
    assert real["status"] in ("ok", "warning", "critical")


async def test_a_filter_on_an_unwatched_kind_is_unknown(tmp_path: Path) -> None:
    async with start_agent(tmp_path, kinds=("pods", "deployments")) as running:
        health, text = await _health(running, kind="Node")
        assert health["status"] == "unknown"
        assert "not watched" in text.splitlines()[0]
        everything, _ = await _health(running)
        assert everything["status"] != "unknown"
