"""End to end over streamable HTTP: the SDK's client against the agent on the simulator."""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator
from typing import Any

import anyio
import jsonschema
import pytest
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp_types import ResourceUpdatedNotification

from mcpserver.agent import Agent
from mcpserver.surface.tools import TOOL_NAMES
from store import Kind
from tests.mcpserver.conftest import mcp_client, start_agent, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(tmp_path_factory.mktemp("agent")) as running:
        yield running


async def _names(agent: Agent) -> dict[str, Any]:
    """A real pod, deployment and node of the simulated cluster, read through the tools."""
    assert agent.url is not None
    async with mcp_client(agent.url) as client:
        pods = (await client.call_tool("list_pods", {"limit": 1})).structured_content
        deps = (await client.call_tool("list_deployments", {"limit": 1})).structured_content
        nodes = (await client.call_tool("list_nodes", {"limit": 200})).structured_content
    assert pods
    assert deps
    assert nodes
    return {
        "pod": pods["items"][0],
        "deployment": deps["items"][0],
        "node": nodes["items"][-1],
        "nodes": [n["name"] for n in nodes["items"]],
    }


async def test_lists_every_tool_read_only_with_output_schemas(agent: Agent) -> None:
    assert agent.url is not None
    async with mcp_client(agent.url) as client:
        tools = (await client.list_tools()).tools
    assert sorted(t.name for t in tools) == sorted(TOOL_NAMES)
    for tool in tools:
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.idempotent_hint is True
        assert tool.output_schema is not None
        assert "freshness" in tool.output_schema["properties"]
        assert tool.description
    query = next(t for t in tools if t.name == "query")
    assert "transitions" in (query.description or "")
    assert "pods:" in (query.description or "")


async def test_every_tool_answers_with_structure_text_and_freshness(agent: Agent) -> None:
    assert agent.url is not None
    names = await _names(agent)
    pod, dep, node = names["pod"], names["deployment"], names["node"]
    calls: dict[str, dict[str, Any]] = {
        "cluster_health": {},
        "list_pods": {"problems_only": False, "limit": 5},
        "get_pod": {"namespace": pod["namespace"], "name": pod["name"]},
        "list_deployments": {"limit": 5},
        "get_deployment": {"namespace": dep["namespace"], "name": dep["name"]},
        "list_nodes": {},
        "get_node": {"name": node["name"]},
        "list_objects": {"kind": "Deployment", "limit": 5},
        "get_object": {"kind": "Deployment", "namespace": dep["namespace"], "name": dep["name"]},
        "recent_changes": {"since": "30m", "limit": 5},
        "metric_summary": {"by": "node", "top": 3},
        "query": {"sql": "SELECT phase, count(*) AS n FROM pods GROUP BY phase"},
    }
    assert set(calls) == set(TOOL_NAMES)
    async with mcp_client(agent.url) as client:
        schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
        for name, args in calls.items():
            result = await client.call_tool(name, args)
            assert not result.is_error, (name, text_of(result))
            data = result.structured_content
            assert data is not None
            jsonschema.validate(data, schemas[name])
            assert data["freshness"]["stale"] is False
            assert set(data["freshness"]["kinds"]) == {k.value for k in Kind}
            summary = text_of(result)
            assert summary
            assert len(summary) < 8000
    # Spot-check the content, not only the shape.
    async with mcp_client(agent.url) as client:
        pods = (await client.call_tool("list_pods", {"limit": 200})).structured_content
        assert pods is not None
        assert pods["total"] == agent.store.view.cluster.pods == len(pods["items"])
        detail = (await client.call_tool("get_node", {"name": node["name"]})).structured_content
        assert detail is not None
        on_node = [p for p in pods["items"] if p["node"] == node["name"]]
        assert detail["pods_total"] == len(on_node)
        assert detail["allocatable"]["cpu_m"] > 0
        counted = (await client.call_tool("query", calls["query"])).structured_content
        assert counted is not None
        assert sum(row[1] for row in counted["rows"]) == pods["total"]


async def test_pagination_walks_every_pod_once(agent: Agent) -> None:
    assert agent.url is not None
    seen: list[str] = []
    cursor = None
    async with mcp_client(agent.url) as client:
        while True:
            args: dict[str, Any] = {"limit": 5}
            if cursor:
                args["cursor"] = cursor
            page = (await client.call_tool("list_pods", args)).structured_content
            assert page is not None
            seen += [f"{p['namespace']}/{p['name']}" for p in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
    assert len(seen) == len(set(seen)) == agent.store.view.cluster.pods


async def test_get_pod_redacts_literal_env_values(agent: Agent) -> None:
    assert agent.url is not None
    assert agent.simulator is not None
    seen = anyio.Event()

    def on_transition(t: Any) -> None:
        if t.name == "secretive":
            seen.set()

    subscription = agent.registry.subscribe(on_transition, name="test-redaction")
    try:
        agent.simulator.store.create(
            "pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "secretive", "namespace": "default"},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example.com/app:1",
                            "env": [
                                {"name": "DB_PASSWORD", "value": "hunter2"},
                                {"name": "MODE", "value": "prod"},
                                {
                                    "name": "API_TOKEN",
                                    "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}},
                                },
                            ],
                        }
                    ]
                },
            },
        )
        with anyio.fail_after(10):
            await seen.wait()
    finally:
        subscription.close()
    async with mcp_client(agent.url) as client:
        result = await client.call_tool("get_pod", {"namespace": "default", "name": "secretive"})
    data = result.structured_content
    assert data is not None, text_of(result)
    env = data["spec"]["containers"][0]["env"]
    assert [v.get("value") for v in env[:2]] == ["<redacted>", "<redacted>"]
    assert env[2]["valueFrom"]["secretKeyRef"] == {"name": "api", "key": "token"}
    assert data["redacted_values"] == 2
    assert "hunter2" not in json.dumps(data)
    assert "hunter2" not in text_of(result)


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("cluster_health", {"min_severity": "fatal"}, "min_severity"),
    ("cluster_health", {"cursor": "zzz"}, "invalid cursor"),
    ("list_pods", {"phase": "Bogus"}, "phase"),
    ("list_pods", {"limit": 5000}, "limit"),
    ("list_pods", {"label_selector": "app in (web"}, "selector"),
    ("list_pods", {"cursor": "not-a-cursor"}, "cursor"),
    ("list_pods", {"deployment": "web"}, "needs namespace"),
    ("get_pod", {"namespace": "default"}, "name"),
    ("get_pod", {"namespace": "default", "name": "no-such-pod"}, "not in the watch cache"),
    ("get_pod", {"namespace": "", "name": "x"}, "must not be empty"),
    ("list_deployments", {"limit": 0}, "limit"),
    ("list_deployments", {"label_selector": "=x"}, "selector"),
    ("get_deployment", {"namespace": "default", "name": "no-such"}, "not in the watch cache"),
    ("list_nodes", {"problems_only": "perhaps"}, "problems_only"),
    ("get_node", {"name": "no-such-node"}, "not in the watch cache"),
    ("get_node", {}, "name"),
    ("list_objects", {}, "kind"),
    ("list_objects", {"kind": "Service"}, "kind"),
    ("list_objects", {"kind": "Deployment", "limit": 0}, "limit"),
    ("get_object", {"kind": "Deployment", "name": "x"}, "namespace"),
    ("get_object", {"kind": "Node", "name": "no-such-node"}, "not in the watch cache"),
    ("recent_changes", {"since": "yesterday"}, "invalid duration"),
    ("recent_changes", {"kind": "Service"}, "kind"),
    ("recent_changes", {"cursor": "abc"}, "invalid cursor"),
    ("metric_summary", {"by": "cluster"}, "by"),
    ("metric_summary", {"by": "namespace", "sort": "bogus"}, "cannot sort by"),
    ("metric_summary", {"by": "node", "namespace": "x"}, "does not apply"),
    ("query", {"sql": ""}, "empty"),
    ("query", {"sql": "SELEC 1"}, "SQL error"),
    ("query", {"sql": "SELECT 1", "max_rows": 0}, "max_rows"),
]


async def test_invalid_arguments_give_clear_tool_errors_for_every_tool(agent: Agent) -> None:
    assert {name for name, _, _ in INVALID} == set(TOOL_NAMES)
    assert agent.url is not None
    async with mcp_client(agent.url) as client:
        for name, args, needle in INVALID:
            result = await client.call_tool(name, args)
            text = text_of(result)
            assert result.is_error, (name, args)
            assert needle.lower() in text.lower(), (name, args, text)
            assert "Traceback" not in text, text
            assert 'File "' not in text, text
            assert len(text) < 600, text


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM pods",
        "UPDATE pods SET phase = 'Failed'",
        "INSERT INTO transitions (at, kind, namespace, name, uid, field, severity) "
        "VALUES (0, 'Pod', 'a', 'b', 'c', 'd', 'info')",
        "DROP TABLE pods",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA table_info(pods)",
        "SELECT * FROM pragma_table_info('pods')",
        "SELECT 1; DELETE FROM pods",
    ],
)
async def test_query_refuses_anything_but_select(agent: Agent, sql: str) -> None:
    assert agent.url is not None
    before = agent.store.view.cluster.pods
    async with mcp_client(agent.url) as client:
        result = await client.call_tool("query", {"sql": sql})
    assert result.is_error
    text = text_of(result)
    assert "Traceback" not in text
    rows = await agent.store.reader.query("SELECT count(*) FROM pods")
    assert rows.rows[0][0] == before


async def test_query_stops_a_runaway_query_within_its_time_cap(agent: Agent) -> None:
    assert agent.url is not None
    runaway = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    )
    async with mcp_client(agent.url) as client:
        with anyio.fail_after(10):  # hang guard: the cap, not this deadline, ends the query
            result = await client.call_tool("query", {"sql": runaway, "timeout_s": 0.5})
        assert result.is_error
        assert "time cap" in text_of(result)
        # The guarded connection is usable again right after.
        ok = await client.call_tool("query", {"sql": "SELECT count(*) FROM nodes"})
        assert not ok.is_error


async def test_reads_every_resource(agent: Agent) -> None:
    assert agent.url is not None
    names = await _names(agent)
    pod, dep, node = names["pod"], names["deployment"], names["node"]
    uris = [
        "k8s://health",
        f"k8s://pods/{pod['namespace']}/{pod['name']}",
        f"k8s://deployments/{dep['namespace']}/{dep['name']}",
        f"k8s://nodes/{node['name']}",
    ]
    async with mcp_client(agent.url) as client:
        listed = [str(r.uri) for r in (await client.list_resources()).resources]
        templates = [
            t.uri_template for t in (await client.list_resource_templates()).resource_templates
        ]
        assert listed == ["k8s://health"]
        assert sorted(templates) == sorted(
            [
                "k8s://pods/{namespace}/{name}",
                "k8s://deployments/{namespace}/{name}",
                "k8s://statefulsets/{namespace}/{name}",
                "k8s://nodes/{name}",
            ]
        )
        for uri in uris:
            result = await client.read_resource(uri)
            content = result.contents[0]
            assert content.mime_type == "application/json"
            document = json.loads(content.text)  # type: ignore[union-attr]
            assert "freshness" in document
        with pytest.raises(MCPError, match="not in the watch cache"):
            await client.read_resource("k8s://pods/default/no-such-pod")


async def test_gets_every_prompt(agent: Agent) -> None:
    assert agent.url is not None
    names = await _names(agent)
    pod, dep = names["pod"], names["deployment"]
    async with mcp_client(agent.url) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(prompts) == {
            "cluster_status_analysis",
            "pod_troubleshooting",
            "deployment_rollout_check",
            "node_capacity_review",
        }
        args = {
            "cluster_status_analysis": {},
            "pod_troubleshooting": {"namespace": pod["namespace"], "pod": pod["name"]},
            "deployment_rollout_check": {"namespace": dep["namespace"], "deployment": dep["name"]},
            "node_capacity_review": {},
        }
        for name, arguments in args.items():
            result = await client.get_prompt(name, arguments)
            text = result.messages[0].content.text  # type: ignore[union-attr]
            assert "watch cache" in text
        troubleshoot = await client.get_prompt("pod_troubleshooting", args["pod_troubleshooting"])
        assert pod["name"] in troubleshoot.messages[0].content.text  # type: ignore[union-attr]
        with pytest.raises(MCPError, match="not in the watch cache"):
            await client.get_prompt("pod_troubleshooting", {"namespace": "default", "pod": "nope"})


async def test_no_tool_call_reaches_the_api_server(agent: Agent) -> None:
    assert agent.url is not None
    assert agent.simulator is not None
    names = await _names(agent)
    pod, node = names["pod"], names["node"]
    calls = [
        ("cluster_health", {}),
        ("list_pods", {"problems_only": True}),
        ("get_pod", {"namespace": pod["namespace"], "name": pod["name"]}),
        ("get_node", {"name": node["name"]}),
        ("metric_summary", {"by": "namespace"}),
    ]
    async with mcp_client(agent.url) as client:
        before = agent.simulator.requests.total
        for i in range(100):
            name, args = calls[i % len(calls)]
            result = await client.call_tool(name, args)
            assert not result.is_error
        after = agent.simulator.requests.total
    assert after - before == 0


async def _trigger_node_failure(agent: Agent) -> str:
    """Make the simulator break a node; returns its name once the store has the change."""
    scenario = agent.scenario
    assert scenario is not None
    scenario.step("node_not_ready")
    target = scenario.last_target
    assert target is not None
    return str(target[1])


async def test_subscription_2026_listen_gets_resource_updates(agent: Agent) -> None:
    assert agent.url is not None
    names = await _names(agent)
    uris = ["k8s://health", *(f"k8s://nodes/{n}" for n in names["nodes"])]
    async with mcp_client(agent.url) as client:
        assert client.protocol_version == "2026-07-28"
        async with client.listen(resource_subscriptions=uris) as subscription:
            node = await _trigger_node_failure(agent)
            wanted = {"k8s://health", f"k8s://nodes/{node}"}
            got: set[str] = set()
            with anyio.fail_after(10):
                async for event in subscription:
                    got.add(str(getattr(event, "uri", "")))
                    if wanted <= got:
                        break
        detail = await client.call_tool("get_node", {"name": node})
        assert detail.structured_content is not None
        assert detail.structured_content["recent_changes"]


async def test_subscription_legacy_resources_subscribe_gets_updates(agent: Agent) -> None:
    assert agent.url is not None
    names = await _names(agent)
    updates: set[str] = set()
    arrived = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updates.add(str(message.params.uri))
            arrived.set()

    uris = ["k8s://health", *(f"k8s://nodes/{n}" for n in names["nodes"])]
    async with mcp_client(agent.url, mode="legacy", message_handler=on_message) as client:
        assert client.protocol_version != "2026-07-28"
        assert client.server_capabilities.resources is not None
        assert client.server_capabilities.resources.subscribe is True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            for uri in uris:
                await client.subscribe_resource(uri)
        assert agent.notifier.legacy_subscriptions >= len(uris)
        node = await _trigger_node_failure(agent)
        wanted = {"k8s://health", f"k8s://nodes/{node}"}
        with anyio.fail_after(10):
            while not wanted <= updates:
                await arrived.wait()
                arrived = anyio.Event()
    # The session was deleted when the client left: its subscriptions went with it.
    assert agent.notifier.legacy_subscriptions == 0


async def test_metrics_and_health_endpoints(agent: Agent) -> None:
    import httpx

    assert agent.url is not None
    base = agent.url.removesuffix("/mcp")
    # The tool-call and /mcp series below are born by a call: make one here.
    async with mcp_client(agent.url) as client:
        assert not (await client.call_tool("list_pods", {"limit": 1})).is_error
    async with httpx.AsyncClient() as http:
        health = await http.get(base + "/health")
        assert health.status_code == 200
        ready = await http.get(base + "/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["ready"] is True
        metrics = await http.get(base + "/metrics")
    assert metrics.status_code == 200
    body = metrics.text
    assert 'kube_watchcache_mcp_tool_calls_total{outcome="ok",tool="list_pods"}' in body
    assert "kube_watchcache_mcp_tool_duration_seconds_bucket" in body
    assert 'kube_watchcache_http_requests_total{code="200",path="/mcp"}' in body
