"""Every answer names the same broken objects, and a grace period is shown, never hidden.

Against a real agent on the embedded simulator, through the SDK client: the
objects with findings as cluster_health, the list_*(problems_only=true)
tools, the get_* tools and the k8s://health resource report them must be the
same set, for random damage and at random moments relative to the grace
periods (the answers' clock is moved forward, the cluster's is not).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpserver.agent import Agent
from tests.mcpserver.conftest import mcp_client, start_agent, text_of
from tests.mcpserver.findings_kit import (
    converged,
    every_object,
    from_gets,
    from_health,
    from_lists,
    from_resource,
    resource_accounts_for,
)

SHAPE = {"nodes": 6, "deployments": 8, "pods_per_deployment": 2, "churn": 0.0}
DAMAGE = (
    "crash_loop",
    "oom_kill",
    "image_pull_error",
    "crash_rollout",
    "config_error",
    "unschedulable",
    "node_not_ready",
    "node_pressure",
    "cordon",
    "scale",
    "rollout",
    "recover",
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BlockingPortal, Agent]]:
    """One agent for the module, in a portal thread (hypothesis drives it synchronously)."""
    with start_blocking_portal(backend="asyncio") as portal:
        context = start_agent(tmp_path_factory.mktemp("findings"), shape=SHAPE)
        with portal.wrap_async_context_manager(context) as agent:
            yield portal, agent


async def _answers_agree(agent: Agent, shift: float) -> None:
    """Compare every answer at one frozen moment `shift` seconds ahead of now."""
    await converged(agent)
    answers = agent.answers
    real_clock = answers.clock
    answers.clock = lambda: real_clock() + shift
    moment = answers.clock()
    answers.clock = lambda: moment
    try:
        assert agent.url is not None
        async with mcp_client(agent.url) as client:
            for _attempt in range(5):
                version = agent.store.view.version
                health, pending_total = await from_health(client)
                lists = await from_lists(client)
                gets, pending = await from_gets(client, await every_object(client))
                document = await from_resource(client)
                if agent.store.view.version == version:
                    break  # nothing changed while we read: the answers describe one state
            else:
                pytest.fail("the store kept changing while the answers were read")
    finally:
        answers.clock = real_clock
    assert health == lists == gets
    assert pending_total == len(pending)
    resource_accounts_for(document, health)


def test_every_answer_names_the_same_broken_objects(
    served: tuple[BlockingPortal, Agent],
) -> None:
    portal, agent = served
    scenario = agent.scenario
    assert scenario is not None

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(
        damage=st.lists(st.sampled_from(DAMAGE), min_size=1, max_size=4),
        shift=st.sampled_from([0.0, 45.0, 120.0, 400.0, 1000.0, 5000.0]),
    )
    def one(damage: list[str], shift: float) -> None:
        for kind in damage:
            portal.call(scenario.step, kind)
        portal.call(_answers_agree, agent, shift)

    one()


async def _deployment_answers(agent: Agent, namespace: str, name: str) -> dict[str, Any]:
    assert agent.url is not None
    async with mcp_client(agent.url) as client:
        detail = await client.call_tool("get_deployment", {"namespace": namespace, "name": name})
        listed = await client.call_tool("list_deployments", {"problems_only": True, "limit": 200})
        health = await client.call_tool(
            "cluster_health", {"kind": "Deployment", "group": False, "limit": 200}
        )
    assert detail.structured_content is not None
    assert listed.structured_content is not None
    assert health.structured_content is not None
    return {
        "detail": detail.structured_content,
        "listed": {(d["namespace"], d["name"]) for d in listed.structured_content["items"]},
        "health": health.structured_content,
        "health_named": {
            (f["namespace"], f["name"]) for f in health.structured_content["findings"]
        },
        "text": text_of(health),
    }


def test_a_broken_deployment_is_pending_everywhere_then_a_finding_everywhere(
    served: tuple[BlockingPortal, Agent],
) -> None:
    portal, agent = served
    scenario = agent.scenario
    assert scenario is not None
    for _ in range(20):  # earlier damage may cap new problems: recover until one lands
        portal.call(scenario.step, "crash_rollout")
        if scenario.last_target is not None:
            break
        portal.call(scenario.step, "recover")
    target = scenario.last_target
    assert target is not None
    namespace, name = target
    portal.call(converged, agent)
    answers = agent.answers
    real_clock = answers.clock
    try:
        now = time.time()
        answers.clock = lambda: now  # inside every deployment grace period
        early = portal.call(_deployment_answers, agent, namespace, name)
        assert early["detail"]["findings"] == []
        pending = early["detail"]["pending_findings"]
        assert pending, "a broken deployment inside its grace period is shown as pending"
        assert all(f["counts_at"] for f in pending)
        assert (namespace, name) not in early["listed"]
        assert (namespace, name) not in early["health_named"]
        assert early["health"]["pending_total"] >= 1
        assert "pending" in early["text"].splitlines()[0]
        answers.clock = lambda: now + 3600  # past every grace period
        late = portal.call(_deployment_answers, agent, namespace, name)
        assert late["detail"]["findings"], late["detail"]
        assert (namespace, name) in late["listed"]
        assert (namespace, name) in late["health_named"]
        assert late["health"]["status"] in ("warning", "critical")
        assert late["listed"] == late["health_named"]
    finally:
        answers.clock = real_clock


async def _past_answers(agent: Agent, namespace: str, name: str) -> dict[str, Any]:
    assert agent.url is not None
    async with mcp_client(agent.url) as client:
        detail = await client.call_tool("get_pod", {"namespace": namespace, "name": name})
        now = await client.call_tool("list_pods", {"problems_only": True, "limit": 200})
        past = await client.call_tool(
            "list_pods", {"problems_only": True, "include_past": True, "limit": 200}
        )
        health = await client.call_tool("cluster_health", {"include_past": True})
    out = {}
    for key, result in (("detail", detail), ("now", now), ("past", past), ("health", health)):
        assert not result.is_error, text_of(result)
        out[key] = result.structured_content
    return out


def test_an_earlier_oom_kill_is_a_past_problem_not_a_current_one(tmp_path: Path) -> None:
    with (
        start_blocking_portal(backend="asyncio") as portal,
        portal.wrap_async_context_manager(start_agent(tmp_path, shape=SHAPE)) as agent,
    ):
        scenario = agent.scenario
        assert scenario is not None
        done = portal.call(scenario.step, "oom_kill")
        assert done.startswith("OOM kill "), done  # "OOM kill <namespace>/<pod>"
        namespace, name = done.removeprefix("OOM kill ").split()[0].split("/", 1)
        portal.call(scenario.advance, 60.0)  # the kubelet restarts the container: running again
        portal.call(converged, agent)
        answers = portal.call(_past_answers, agent, namespace, name)
    detail = answers["detail"]
    assert detail["pod"]["ready"], detail["containers"]
    assert detail["findings"] == []
    assert [f["check"] for f in detail["past_findings"]] == ["pod.oom_killed"]
    listed_now = {(p["namespace"], p["name"]) for p in answers["now"]["items"]}
    listed_past = {(p["namespace"], p["name"]) for p in answers["past"]["items"]}
    assert (namespace, name) not in listed_now
    assert (namespace, name) in listed_past
    health = answers["health"]
    assert health["past_total"] >= 1
    assert (namespace, name) in {(f["namespace"], f["name"]) for f in health["past"]}
    assert "pod.oom_killed" not in health["counts_by_check"]
