"""The size of `tools/list`: what every MCP client hands the model on every turn.

Measured on the wire (one 2026-07-28 POST, the response body as sent) and split
into what the model reads to choose and call a tool (descriptions and input
schemas) and what describes the answers (output schemas). Shared by
mcp_bench.py, which prints it, and the test that keeps it within budget.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx

# Issue 21's budget, in bytes of UTF-8 JSON.
TOTAL_BUDGET = 25_000
DESCRIBED_BUDGET = 8_000  # descriptions + input schemas

_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "Mcp-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/list",
}
_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "tools-list-size", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


@dataclasses.dataclass(frozen=True)
class ToolsListSize:
    total: int  # the response body
    described: int  # every tool's description and input schema
    outputs: int  # every tool's output schema
    tools: int
    tools_without_output_schema: tuple[str, ...]


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def measure(body: bytes) -> ToolsListSize:
    """Split a `tools/list` response body into the parts the budget names."""
    tools = json.loads(body)["result"]["tools"]
    return ToolsListSize(
        total=len(body),
        described=sum(
            len(t.get("description", "").encode()) + _size(t["inputSchema"]) for t in tools
        ),
        outputs=sum(_size(t["outputSchema"]) for t in tools if "outputSchema" in t),
        tools=len(tools),
        tools_without_output_schema=tuple(t["name"] for t in tools if "outputSchema" not in t),
    )


async def fetch_tools_list(http: httpx.AsyncClient, url: str) -> bytes:
    """POST `tools/list` to the /mcp `url`; the response body, as the client receives it."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": _META}}
    response = await http.post(url, json=body, headers=_HEADERS)
    response.raise_for_status()
    return response.content


def report(size: ToolsListSize) -> list[str]:
    """Lines for a benchmark's output: each figure against its budget."""

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    return [
        f"tools/list ({size.tools} tools): {size.total:,} bytes "
        f"(target < {TOTAL_BUDGET:,}): {verdict(size.total < TOTAL_BUDGET)}",
        f"  descriptions + input schemas: {size.described:,} bytes "
        f"(target < {DESCRIBED_BUDGET:,}): {verdict(size.described < DESCRIBED_BUDGET)}",
        f"  output schemas: {size.outputs:,} bytes; tools without one: "
        f"{', '.join(size.tools_without_output_schema) or 'none'}",
    ]
