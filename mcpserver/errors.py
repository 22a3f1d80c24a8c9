"""The MCP server's exceptions.

Two audiences: the operator starting the agent (a bad flag, an unreadable token
file: `ConfigError`, printed as one line and exit code 2) and the MCP client
asking a question (a bad argument: `InvalidArgument`, turned into a tool error
whose text is the message, never a traceback).
"""

from __future__ import annotations

from typing import Final

__all__ = ["RESOURCE_NOT_FOUND", "ConfigError", "InvalidArgument", "McpServerError", "NotFound"]

# JSON-RPC code of a missing resource for clients of the handshake protocols (up to
# 2025-11-25); from 2026-07-28 it is -32602 (SEP-2164), and -32002 is never reused.
RESOURCE_NOT_FOUND: Final = -32002


class McpServerError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(McpServerError):
    """The configuration cannot be used as given; the message says which setting and why."""


class InvalidArgument(McpServerError):
    """A tool, resource or prompt argument is malformed; the message is shown to the client."""


class NotFound(McpServerError):
    """The object asked for is not in the watch cache."""
