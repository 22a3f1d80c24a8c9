"""What the model reads: a `tools/list` it can afford, plain names, text that cannot be misread.

A real agent on the simulated cluster; `tools/list` is fetched as any client
fetches it (one 2026-07-28 POST) and measured with the benchmark's own
measure; everything else goes through the SDK's client. (That the compact output
schemas still validate every tool's answer is test_e2e_http's job.)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from benchmarks._tools_list import DESCRIBED_BUDGET, TOTAL_BUDGET, fetch_tools_list, measure
from mcpserver.agent import Agent
from mcpserver.surface.render import human_bytes
from mcpserver.surface.tools import TOOL_NAMES
from tests.mcpserver.conftest import mcp_client, start_agent, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(tmp_path_factory.mktemp("reads")) as agent:
        yield agent


def _url(agent: Agent) -> str:
    assert agent.url is not None
    return agent.url


async def test_tools_list_fits_its_budget_and_keeps_output_schemas(agent: Agent) -> None:
    async with httpx.AsyncClient() as http:
        size = measure(await fetch_tools_list(http, _url(agent)))
    assert size.tools == len(TOOL_NAMES)
    assert size.tools_without_output_schema == ()
    assert size.described < DESCRIBED_BUDGET, size
    assert size.total < TOTAL_BUDGET, size


async def test_descriptions_carry_no_docstring_indentation(agent: Agent) -> None:
    async with mcp_client(_url(agent)) as client:
        tools = (await client.list_tools()).tools
    for tool in tools:
        assert tool.description
        assert not re.search(r"\n\s", tool.description), (tool.name, tool.description)
        assert "  " not in tool.description, tool.name


async def test_get_node_names_its_ratios(agent: Agent) -> None:
    async with mcp_client(_url(agent)) as client:
        listed = (await client.call_tool("list_nodes", {"limit": 1})).structured_content
        assert listed is not None
        item = listed["items"][0]
        result = await client.call_tool("get_node", {"name": item["name"]})
    detail = result.structured_content
    assert detail is not None
    assert "utilization" not in detail
    requested, allocatable = detail["requested"], detail["allocatable"]
    assert detail["cpu_requested_pct_of_allocatable"] == round(
        100 * requested["cpu_m"] / allocatable["cpu_m"], 1
    )
    assert detail["memory_requested_pct_of_allocatable"] == round(
        100 * requested["memory_bytes"] / allocatable["memory_bytes"], 1
    )
    assert detail["pods_pct_of_allocatable"] == round(
        100 * requested["pods"] / allocatable["pods"], 1
    )
    assert "requested ÷ allocatable: CPU " in text_of(result)


def test_human_bytes_reads_as_kubernetes_writes_memory() -> None:
    assert human_bytes(512) == "512 B"
    assert human_bytes(300 * 2**20) == "300 MiB"
    assert human_bytes(1.5 * 2**30) == "1.5 GiB"
    assert human_bytes(64 * 2**20 + 2**19) == "64.5 MiB"


async def test_metric_summary_text_shows_memory_and_reads_restarts_plainly(agent: Agent) -> None:
    async with mcp_client(_url(agent)) as client:
        result = await client.call_tool("metric_summary", {"by": "namespace"})
    answer = result.structured_content
    assert answer is not None
    text = text_of(result)
    assert "(last hour" not in text
    for group in answer["groups"]:
        line = next(x for x in text.splitlines() if x.startswith(f"- {group['namespace']}:"))
        assert f"memory {human_bytes(group['memory_request_bytes'])}" in line, line
        assert (
            f"restarts: {group['restarts']} now in pods' counters, "
            f"{group['restarts_last_hour']} restart events in the last hour" in line
        ), line


def _section(text: str, title: str) -> str:
    start = text.index(title)
    return text[start : text.index("```\n", text.index("```\n", start) + 4)]


async def test_node_capacity_review_shows_memory_where_it_ranks_by_memory(agent: Agent) -> None:
    async with mcp_client(_url(agent)) as client:
        prompt = await client.get_prompt("node_capacity_review")
    text = "\n".join(getattr(m.content, "text", "") for m in prompt.messages)
    by_memory = _section(text, "Nodes by memory requested")
    shares = [
        float(x) for x in re.findall(r"of allocatable: CPU [\d.]+%, memory ([\d.]+)%", by_memory)
    ]
    assert shares, by_memory
    assert shares == sorted(shares, reverse=True), by_memory
    assert re.search(r"memory [\d.]+ (MiB|GiB)", by_memory), by_memory


async def test_prompt_arguments_say_what_they_are(agent: Agent) -> None:
    async with mcp_client(_url(agent)) as client:
        prompts = (await client.list_prompts()).prompts
    arguments = [(p.name, a) for p in prompts for a in p.arguments or []]
    assert len(arguments) == 4
    for prompt, argument in arguments:
        assert argument.description, (prompt, argument.name)
