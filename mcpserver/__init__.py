"""Everything a client sees: MCP, HTTP endpoints, metrics, the CLI and the composition root.

    from mcpserver import Settings, running_agent

    async with running_agent(Settings(demo=True, port=0)) as agent:
        print(agent.url)          # http://127.0.0.1:<port>/mcp
        await agent.informers.wait_synced()
        health = await agent.answers.cluster_health()

The composition root is at the top level: `cli` (`kube-watchcache`),
`agent` (wires and starts everything, in order), `runtime` (interpreter
settings). Below it, by what a client sees:

- `surface`: the MCP surface (server, tools, resources, prompts,
  subscriptions, the answers read from the store, their text, freshness);
- `web`: the HTTP app (/mcp /health /ready /metrics), its listener and
  middleware (auth, Host/Origin, rate limit, read deadlines, admission);
- `metrics`: the agent's own metrics; `ksm`: the kube-state-metrics-compatible
  cluster gauges and the /metrics exposition.

What every layer shares stays at the top level too: `config` (flags, env,
file), `errors`, `logs`, `durations`, `arguments`. The layers are enforced by
an import-linter contract in pyproject.toml.

The heavy names (the composition root pulls in the watcher and the Kubernetes
client) are imported on first use, so `kube-watchcache --help` stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mcpserver.config import Settings, resolve_settings
from mcpserver.errors import ConfigError, InvalidArgument, McpServerError, NotFound
from mcpserver.metrics import AgentMetrics

if TYPE_CHECKING:
    from mcpserver.agent import Agent, run_agent, running_agent
    from mcpserver.surface.server import KubeWatchcacheServer, build_mcp_server
    from mcpserver.surface.service import ClusterAnswers
    from mcpserver.web.http_app import build_http_app

__all__ = [
    "Agent",
    "AgentMetrics",
    "ClusterAnswers",
    "ConfigError",
    "InvalidArgument",
    "KubeWatchcacheServer",
    "McpServerError",
    "NotFound",
    "Settings",
    "build_http_app",
    "build_mcp_server",
    "resolve_settings",
    "run_agent",
    "running_agent",
]

_LAZY = {
    "Agent": "mcpserver.agent",
    "run_agent": "mcpserver.agent",
    "running_agent": "mcpserver.agent",
    "build_http_app": "mcpserver.web.http_app",
    "KubeWatchcacheServer": "mcpserver.surface.server",
    "build_mcp_server": "mcpserver.surface.server",
    "ClusterAnswers": "mcpserver.surface.service",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mcpserver' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
