"""Reading every answer that names broken objects, through the SDK client, for comparison.

Shared by the consistency tests: the objects with findings as cluster_health,
the list_*(problems_only=true) tools, the get_* tools and the k8s://health
resource each report them, and a wait until the store holds exactly the
simulator's objects (same resourceVersions), so a comparison is not racing
the watch.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from mcp import Client

from mcpserver.agent import Agent

Key = tuple[str, str, str]  # kind, namespace, name

_TABLES = {"pods": "pods", "deployments": "deployments", "nodes": "nodes"}


async def converged(agent: Agent) -> None:
    """Until every kind in the store has the simulator's objects at their resourceVersions."""
    sim = agent.simulator
    assert sim is not None
    with anyio.fail_after(20):
        while True:
            await agent.store.writer.flush()
            same = True
            for resource, table in _TABLES.items():
                want = {str(e.rv) for e in sim.store.entries(resource)}
                rows = await agent.store.reader.query(
                    f"SELECT resource_version FROM {table}", max_rows=10_000
                )
                if {r[0] for r in rows.rows} != want:
                    same = False
                    break
            if same:
                return
            await anyio.sleep(0.05)


async def pages(client: Client, tool: str, args: dict[str, Any], key: str) -> list[Any]:
    """Every item of a paged tool answer."""
    out: list[Any] = []
    cursor = None
    while True:
        call = dict(args, cursor=cursor) if cursor else args
        result = await client.call_tool(tool, call)
        assert not result.is_error, (tool, call, result.content)
        data = result.structured_content
        assert data is not None
        out += data[key]
        cursor = data.get("next_cursor")
        if not cursor:
            return out


def _key(item: dict[str, Any], kind: str) -> Key:
    return (kind, item.get("namespace") or "", item["name"])


async def from_health(client: Client) -> tuple[set[Key], int]:
    """(objects with current findings, how many are pending), from cluster_health ungrouped."""
    findings = await pages(client, "cluster_health", {"group": False, "limit": 200}, "findings")
    first = (await client.call_tool("cluster_health", {"limit": 1})).structured_content
    assert first is not None
    return {_key(f, f["kind"]) for f in findings}, first["pending_total"]


async def from_lists(client: Client) -> set[Key]:
    out: set[Key] = set()
    for tool, kind in (
        ("list_pods", "Pod"),
        ("list_deployments", "Deployment"),
        ("list_nodes", "Node"),
    ):
        items = await pages(client, tool, {"problems_only": True, "limit": 200}, "items")
        out |= {_key(i, kind) for i in items}
    return out


async def every_object(client: Client) -> list[Key]:
    out: list[Key] = []
    for tool, kind in (
        ("list_pods", "Pod"),
        ("list_deployments", "Deployment"),
        ("list_nodes", "Node"),
    ):
        out += [_key(i, kind) for i in await pages(client, tool, {"limit": 200}, "items")]
    return out


async def from_gets(client: Client, objects: list[Key]) -> tuple[set[Key], set[Key]]:
    """(objects whose get_* shows current findings, objects it shows only pending ones for)."""
    current: set[Key] = set()
    pending: set[Key] = set()
    for key in objects:
        kind, namespace, name = key
        if kind == "Node":
            result = await client.call_tool("get_node", {"name": name})
        else:
            tool = "get_pod" if kind == "Pod" else "get_deployment"
            result = await client.call_tool(tool, {"namespace": namespace, "name": name})
        if result.is_error and "not in the watch cache" in str(result.content):
            continue  # deleted since it was listed: the caller sees the store changed
        assert not result.is_error, (key, result.content)
        data = result.structured_content
        assert data is not None
        if data["findings"]:
            current.add(key)
        assert all(f["counts_at"] for f in data["pending_findings"])
        if data["pending_findings"] and not data["findings"]:
            pending.add(key)
    return current, pending


async def from_resource(client: Client) -> dict[str, Any]:
    result = await client.read_resource("k8s://health")
    document: dict[str, Any] = json.loads(result.contents[0].text)  # type: ignore[union-attr]
    return document


def resource_accounts_for(document: dict[str, Any], current: set[Key]) -> None:
    """The grouped resource names only objects with findings and accounts for all of them."""
    named: set[Key] = set()
    covered = 0
    for item in document["findings"]:
        named.add(_key(item, item["kind"]))
        covered += 1
        group = item.get("group")
        if group:
            covered += group["objects"]
            for example in group["examples"]:
                namespace, name = example.split("/", 1)
                named.add(("Pod", namespace, name))
    for cause in document["more_causes"]:  # the causes past the page, compact
        if not cause["pending"]:
            named.add((cause["kind"], cause["namespace"], cause["name"]))
            covered += 1 + (cause["group"]["objects"] if cause["group"] else 0)
    assert named <= current, named - current
    assert document["objects_with_findings"] == len(current)
    assert covered == len(current)  # the page and its tail account for every object
