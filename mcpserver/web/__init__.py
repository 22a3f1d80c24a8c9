"""The HTTP app and its middleware: what an HTTP client (or a probe) meets first.

- `http_app`: the one ASGI app on the one port (/mcp, /health, /ready,
  /metrics) and the order of the layers around it (`build_http_app`).
- `listener`: uvicorn on a socket bound beforehand (`HttpListener`).
- `auth`: bearer tokens (`TokenSet`), `hostcheck`: Host/Origin allow-lists,
  `ratelimit`: a token bucket per client, `deadlines`: header and body read
  deadlines, `requestids`: one request per JSON-RPC id in flight,
  `admission`: a few /mcp requests at a time, a short queue, then 503.

`arrived_at` and `leave_admission` are for the MCP tools: a call can count
its time from its arrival and give back its admission slot early.
"""

from mcpserver.web.admission import arrived_at, leave_admission
from mcpserver.web.auth import TokenSet
from mcpserver.web.http_app import MCP_PATH, build_http_app
from mcpserver.web.listener import HttpListener, bind_socket

__all__ = [
    "MCP_PATH",
    "HttpListener",
    "TokenSet",
    "arrived_at",
    "bind_socket",
    "build_http_app",
    "leave_admission",
]
