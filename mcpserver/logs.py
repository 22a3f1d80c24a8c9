"""Logging to stderr, as text for people or one JSON object per line for collectors.

Everything goes to stderr: with `--transport stdio`, stdout carries the MCP
protocol and a single stray line there would corrupt it. Structured fields are
passed as `extra={"fields": {...}}`; the text format appends them as
`key=value`, the JSON format nests them at the top level.

Audit records (one per tool call, `mcpserver.surface.audit`) have a logger of their
own, `kube_watchcache.audit`. The demo's text console leaves them out below
`--log-level debug` (a person trying the tools does not need a line per
call); JSON logs, and every non-demo run, keep them (see `show_audit_lines`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

__all__ = ["AUDIT_LOGGER", "configure_logging", "console_handler", "show_audit_lines"]

AUDIT_LOGGER = "kube_watchcache.audit"


class _TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields: dict[str, Any] | None = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{key}={_text(value)}" for key, value in fields.items())
        return line


def _text(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields: dict[str, Any] | None = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def console_handler(*, fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """The handler `configure_logging` installs: to `stream` (stderr), in the chosen format."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    return handler


def show_audit_lines(*, demo: bool, level: str, fmt: str) -> bool:
    """Whether tool-call audit records reach the log; switched off on the demo's text console.

    Off only for `--demo` with text logs below debug: there a person watches
    the console. Returns what was decided.
    """
    show = not demo or fmt == "json" or level == "debug"
    logging.getLogger(AUDIT_LOGGER).setLevel(logging.NOTSET if show else logging.WARNING)
    return show


def configure_logging(*, level: str = "info", fmt: str = "text") -> None:
    """Route every logger to stderr in the chosen format; quiet the chattiest libraries."""
    handler = console_handler(fmt=fmt)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Per-request chatter from the HTTP server and the SDK stays below info.
    quiet = "WARNING" if level != "debug" else "DEBUG"
    for name in (
        "uvicorn.access",
        "mcp.server.streamable_http",
        "mcp.server.streamable_http_manager",
        "mcp.server.lowlevel.server",
        "httpx",
        "httpx2",
        "mcp.server.mcpserver.server",
    ):
        logging.getLogger(name).setLevel(quiet)
