"""The agent's own metrics: watches, store, transitions, callbacks, build info."""

from __future__ import annotations

import platform
from collections.abc import AsyncIterator

import pytest
from prometheus_client.metrics_core import Metric

from mcpserver.agent import Agent
from store import Kind
from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import Transitions, converge, families, key, samples

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(tmp_path_factory.mktemp("self")) as running:
        yield running


def _total(fams: dict[str, Metric], name: str, **match: str) -> float:
    return sum(
        v
        for k, v in samples(fams, name).items()
        if all(dict(k).get(label) == value for label, value in match.items())
    )


async def test_watch_and_store_state_match_the_cluster(agent: Agent) -> None:
    assert agent.simulator is not None
    await converge(agent)
    fams = await families(agent)
    for plural in ("pods", "deployments", "nodes"):
        count = len(agent.simulator.store.list(plural))
        assert samples(fams, "kube_watchcache_store_objects")[key(kind=plural)] == count
        assert samples(fams, "kube_watchcache_synced")[key(kind=plural)] == 1
        assert _total(fams, "kube_watchcache_relists_total", kind=plural, reason="initial") >= 1
        assert _total(fams, "kube_watchcache_watch_requests_total", kind=plural, result="ok") >= 1
        assert samples(fams, "kube_watchcache_seconds_since_last_event")[key(kind=plural)] >= 0
    assert samples(fams, "kube_watchcache_store_healthy")[()] == 1
    # The initial lists wrote every object: the batch histogram counted them.
    objects = sum(agent.store.view.objects(k) for k in Kind)
    batches = {s.name: s.value for s in fams["kube_watchcache_store_batch_rows"].samples}
    assert batches["kube_watchcache_store_batch_rows_count"] >= 1
    assert batches["kube_watchcache_store_batch_rows_sum"] >= objects
    seconds = {s.name: s.value for s in fams["kube_watchcache_store_batch_seconds"].samples}
    assert (
        seconds["kube_watchcache_store_batch_seconds_count"]
        == (batches["kube_watchcache_store_batch_rows_count"])
    )
    info = samples(fams, "kube_watchcache_build_info")
    ((labels, value),) = info.items()
    assert value == 1
    assert dict(labels)["python_version"] == platform.python_version()


async def test_events_transitions_and_callbacks_are_counted(agent: Agent) -> None:
    assert agent.scenario is not None
    before = await families(agent)
    modified = _total(
        before, "kube_watchcache_watch_events_total", kind="deployments", type="MODIFIED"
    )
    changed = Transitions(agent, lambda t: t.kind is Kind.DEPLOYMENT)
    agent.scenario.step("scale")
    await changed.wait()
    crashing = Transitions(agent, lambda t: t.field.endswith("/waiting_reason"))
    agent.scenario.step("crash_loop")
    agent.scenario.advance(60)
    await crashing.wait()
    await converge(agent)
    # The dispatcher hands transitions to the sinks asynchronously: wait for the MCP sink.
    sink = next(s for s in agent.registry.subscriptions if s.name == "mcp-resource-updates")
    await sink.drained()
    after = await families(agent)
    assert (
        _total(after, "kube_watchcache_watch_events_total", kind="deployments", type="MODIFIED")
        > modified
    )
    transitions = samples(after, "kube_watchcache_transitions_total")
    assert any(dict(k)["kind"] == "deployments" for k in transitions)
    # Container names are folded to `*`, so the field label stays bounded.
    fields = {dict(k)["field"] for k in transitions}
    assert "container/*/waiting_reason" in fields
    assert all(f.startswith("container/*/") for f in fields if f.startswith("container/")), fields
    deliveries = samples(after, "kube_watchcache_callback_deliveries_total")
    assert deliveries[key(sink="mcp-resource-updates", outcome="ok")] == sink.delivered > 0
    assert deliveries[key(sink="mcp-resource-updates", outcome="error")] == 0
    assert (
        samples(after, "kube_watchcache_callback_queue_depth")[key(sink="mcp-resource-updates")]
        == 0
    )
    assert samples(after, "kube_watchcache_callback_dropped_total")[key(sink="dispatch")] == 0
