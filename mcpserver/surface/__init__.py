"""The MCP surface: what an MCP client sees, over whichever transport.

- `server`: the MCP server object (`build_mcp_server`), transport-neutral.
- `tools`, `tool_schemas`: the ten read-only tools and their compact schemas.
- `resources`, `prompts`: the `k8s://` resources and the four prompts.
- `subscriptions`: resource-updated notifications (`ResourceNotifier`).
- `audit`: one audit line and one metric observation per tool call.
- `service`: `ClusterAnswers`, the answers behind every tool, resource and
  prompt, read from the store and nothing else.
- `answers`, `items`, `headline`, `render`: the answers' shapes, their items,
  the health headline and the short text that goes with each answer.
- `freshness`: every answer's `freshness`, and what /ready reports.
- `redact`: env values that an answer shows as redacted.

It sits above `mcpserver.web` (the query tool gives back its admission slot)
and `mcpserver.metrics`; it never imports the composition root.
"""

from mcpserver.surface.freshness import readiness_details
from mcpserver.surface.server import KubeWatchcacheServer, build_mcp_server
from mcpserver.surface.service import ClusterAnswers
from mcpserver.surface.subscriptions import ResourceNotifier
from mcpserver.surface.tools import TOOL_NAMES

__all__ = [
    "TOOL_NAMES",
    "ClusterAnswers",
    "KubeWatchcacheServer",
    "ResourceNotifier",
    "build_mcp_server",
    "readiness_details",
]
