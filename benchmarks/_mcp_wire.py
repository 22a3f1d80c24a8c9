"""One MCP `tools/call` as a single 2026-07-28 POST, the way any client puts it on the wire.

Why not the SDK's client: the benchmarks time the agent's answer, and a stateless
POST per call adds nothing of the client's own (sessions, schema checks) to it.
Shared by mcp_bench.py and reliability_bench.py; each judges the response itself.
"""

from __future__ import annotations

from typing import Any

import httpx

_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "Mcp-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
}


async def post_tools_call(
    http: httpx.AsyncClient, url: str, *, tool: str, args: dict[str, Any], client: str
) -> httpx.Response:
    """POST `tool`(`args`) to the /mcp `url`, introducing the caller as `client`."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": client, "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": args, "_meta": meta},
    }
    return await http.post(url, json=body, headers={**_HEADERS, "Mcp-Name": tool})
