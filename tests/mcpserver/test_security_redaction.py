"""Literal env values never enter the store, so no surface of the agent can show them.

A pod and a Deployment carry `DB_PASSWORD=hunter2` in their containers, init
containers and pod template, and again in kubectl's last-applied-configuration
annotation. Every tool (the `query` tool on the raw `obj` column included),
resource and prompt, over both protocol generations, `/metrics`, and the
bytes of the SQLite files must not contain it; the variable names and the
`valueFrom` references must still be there. Only `--reveal-env-values`
stores them, and an agent started without it on that state file empties the bodies
that run stored before anything can read them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from mcpserver.agent import Agent
from tests.mcpserver.conftest import mcp_client, start_agent, text_of

pytestmark = pytest.mark.anyio

SECRET = "hunter2"
NAMESPACE = "default"
POD = "secretive"
DEPLOYMENT = "vault-client"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
REFERENCE = {"secretKeyRef": {"name": "db", "key": "password"}}


def _pod_spec() -> dict[str, Any]:
    return {
        "containers": [
            {
                "name": "app",
                "image": "registry.example.com/app:1",
                "env": [
                    {"name": "DB_PASSWORD", "value": SECRET},
                    {"name": "API_TOKEN", "valueFrom": REFERENCE},
                ],
            }
        ],
        "initContainers": [
            {
                "name": "migrate",
                "image": "registry.example.com/migrate:1",
                "env": [{"name": "MIGRATION_PASSWORD", "value": SECRET + "-init"}],
            }
        ],
    }


def _applied(kind: str, spec: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": kind, "spec": spec})


def _pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": POD,
            "namespace": NAMESPACE,
            "annotations": {LAST_APPLIED: _applied("Pod", _pod_spec())},
        },
        "spec": _pod_spec(),
    }


def _deployment() -> dict[str, Any]:
    spec = {
        "replicas": 1,
        "selector": {"matchLabels": {"app": DEPLOYMENT}},
        "template": {"metadata": {"labels": {"app": DEPLOYMENT}}, "spec": _pod_spec()},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": DEPLOYMENT,
            "namespace": NAMESPACE,
            "annotations": {LAST_APPLIED: _applied("Deployment", spec)},
        },
        "spec": spec,
    }


def _create_secrets(sim: Any, scenario: Any = None) -> None:
    """Put the pod and the Deployment into the simulated cluster (usable as on_connect)."""
    sim.store.create("pods", _pod())
    sim.store.create("deployments", _deployment())


async def _wait_stored(agent: Agent) -> None:
    """Until the store holds the pod, the Deployment and a pod of the Deployment."""
    with anyio.fail_after(20):
        while True:
            await agent.store.writer.flush()
            pod = await agent.store.reader.get_pod(NAMESPACE, POD)
            pods = await agent.store.reader.list_pods(namespace=NAMESPACE, deployment=DEPLOYMENT)
            if pod is not None and pods.items:
                return
            await anyio.sleep(0.05)


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(tmp_path_factory.mktemp("redaction")) as running:
        assert running.simulator is not None
        _create_secrets(running.simulator)
        await _wait_stored(running)
        yield running


def _answer(result: Any) -> str:
    return json.dumps(result.structured_content) + "\n" + text_of(result)


async def _tool_surfaces(client: Client, node: str) -> dict[str, str]:
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "cluster_health": ("cluster_health", {"limit": 200}),
        "list_pods": ("list_pods", {"namespace": NAMESPACE, "limit": 200}),
        "get_pod": ("get_pod", {"namespace": NAMESPACE, "name": POD}),
        "list_deployments": ("list_deployments", {"limit": 200}),
        "get_deployment": ("get_deployment", {"namespace": NAMESPACE, "name": DEPLOYMENT}),
        "list_nodes": ("list_nodes", {"limit": 200}),
        "get_node": ("get_node", {"name": node}),
        "recent_changes": ("recent_changes", {"since": "1h", "limit": 200}),
        "metric_summary": ("metric_summary", {"by": "deployment", "top": 200}),
    }
    queries = {
        "env": f"SELECT json_extract(obj, '$.spec.containers[0].env') FROM pods "
        f"WHERE name = '{POD}'",
        "pods": f"SELECT name, obj FROM pods WHERE namespace = '{NAMESPACE}'",
        "deployments": "SELECT name, obj FROM deployments",
        "annotation": f"SELECT json_extract(obj, '$.metadata.annotations') FROM pods "
        f"WHERE name = '{POD}'",
        "like": "SELECT name FROM pods WHERE CAST(obj AS TEXT) LIKE '%hunter%'",
        "history": "SELECT * FROM transitions",
    }
    for label, sql in queries.items():
        calls[f"query {label}"] = ("query", {"sql": sql, "max_rows": 1000})
    seen = {}
    for label, (tool, args) in calls.items():
        result = await client.call_tool(tool, args)
        assert not result.is_error, (label, text_of(result))
        seen[label] = _answer(result)
    return seen


async def _resource_and_prompt_surfaces(client: Client, node: str) -> dict[str, str]:
    seen = {"resource list": repr(await client.list_resources())}
    for uri in (
        "k8s://health",
        f"k8s://pods/{NAMESPACE}/{POD}",
        f"k8s://deployments/{NAMESPACE}/{DEPLOYMENT}",
        f"k8s://nodes/{node}",
    ):
        seen[uri] = repr(await client.read_resource(uri))
    prompts = {
        "cluster_status_analysis": {},
        "pod_troubleshooting": {"namespace": NAMESPACE, "pod": POD},
        "deployment_rollout_check": {"namespace": NAMESPACE, "deployment": DEPLOYMENT},
        "node_capacity_review": {},
    }
    for name, arguments in prompts.items():
        seen[f"prompt {name}"] = repr(await client.get_prompt(name, arguments))
    return seen


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_no_tool_resource_or_prompt_shows_an_env_value(agent: Agent, mode: str) -> None:
    assert agent.url is not None
    assert agent.simulator is not None
    in_cluster = json.dumps(agent.simulator.store.get("pods", NAMESPACE, POD))
    assert SECRET in in_cluster  # the API server has it: the agent must not
    row = await agent.store.reader.get_pod(NAMESPACE, POD)
    assert row is not None
    node = row.node or (await agent.store.reader.list_nodes(limit=1)).items[0].name
    async with mcp_client(agent.url, mode=mode) as client:
        seen = await _tool_surfaces(client, node)
        seen |= await _resource_and_prompt_surfaces(client, node)
    leaking = sorted(label for label, text in seen.items() if SECRET in text)
    assert leaking == []
    # What is kept: the names, the references, and the redaction marker in place of values.
    detail = seen["get_pod"]
    assert "DB_PASSWORD" in detail
    assert "MIGRATION_PASSWORD" in detail
    assert '"secretKeyRef": {"name": "db", "key": "password"}' in detail
    assert "<redacted>" in seen["query env"]
    assert "DB_PASSWORD" in seen["query env"]
    assert "DB_PASSWORD" in seen["query annotation"]
    assert "<redacted>" in seen["query deployments"]
    assert '"rows": []' in seen["query like"]


async def test_neither_metrics_nor_the_state_file_hold_an_env_value(agent: Agent) -> None:
    assert agent.url is not None
    base = agent.url.removesuffix("/mcp")
    async with httpx.AsyncClient() as http:
        for path in ("/metrics", "/health", "/ready"):
            response = await http.get(base + path)
            assert response.status_code == 200, (path, response.text)
            assert SECRET not in response.text, path
        metrics = await http.get(base + "/metrics")
    assert f'pod="{POD}"' in metrics.text  # the pod is exported: its values are not
    await agent.store.writer.flush()
    files = sorted(agent.settings.db.parent.glob(agent.settings.db.name + "*"))
    assert agent.settings.db in files
    for file in files:
        assert SECRET.encode() not in file.read_bytes(), file.name
    # The rows are there: the search above searched the right bytes.
    assert any(POD.encode() in file.read_bytes() for file in files)


async def _query(client: Client, sql: str) -> str:
    result = await client.call_tool("query", {"sql": sql})
    assert not result.is_error, text_of(result)
    return _answer(result)


async def test_only_reveal_env_values_stores_them_and_a_restart_without_it_empties_them(
    tmp_path: Path,
) -> None:
    env_sql = f"SELECT obj FROM pods WHERE name = '{POD}'"
    async with start_agent(tmp_path, reveal_env_values=True, on_connect=_create_secrets) as agent:
        await _wait_stored(agent)
        assert agent.url is not None
        async with mcp_client(agent.url) as client:
            assert SECRET in await _query(client, env_sql)
            detail = await client.call_tool("get_pod", {"namespace": NAMESPACE, "name": POD})
            assert SECRET in _answer(detail)
        stored = await agent.store.reader.get_pod(NAMESPACE, POD)
        assert stored is not None

    def held_pods(sim: Any, scenario: Any) -> None:
        _create_secrets(sim)  # the same pod again, under a new uid
        sim.faults.fail_next(count=1_000_000, status=500, resource="pods")  # no pod list yet

    # The same state file, without the flag: the rows restored from it are served until
    # the pods are listed again, but the bodies the earlier run stored were emptied at
    # open, before anything could read them: not even `query` on `obj` or the file's
    # bytes hold the values.
    async with start_agent(tmp_path, wait_synced=False, on_connect=held_pods) as agent:
        assert agent.url is not None
        assert agent.simulator is not None
        async with mcp_client(agent.url) as client:
            restored = await client.call_tool("get_pod", {"namespace": NAMESPACE, "name": POD})
            assert restored.structured_content is not None, text_of(restored)
            assert restored.structured_content["pod"]["uid"] == stored.uid
            assert SECRET not in _answer(restored)
            assert SECRET not in await _query(client, env_sql)
            await agent.store.writer.flush()
            for file in sorted(agent.settings.db.parent.glob(agent.settings.db.name + "*")):
                assert SECRET.encode() not in file.read_bytes(), file.name
            agent.simulator.faults.clear()
            with anyio.fail_after(45):  # the informer's backoff after its failed lists
                await agent.informers.wait_synced()
            await _wait_stored(agent)
            listed = await agent.store.reader.get_pod(NAMESPACE, POD)
            assert listed is not None
            assert listed.uid != stored.uid
            assert SECRET not in await _query(client, env_sql)
            assert "<redacted>" in await _query(client, env_sql)
            detail = await client.call_tool("get_pod", {"namespace": NAMESPACE, "name": POD})
            assert SECRET not in _answer(detail)
