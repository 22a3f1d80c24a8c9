"""Host and Origin allow-lists for /mcp: the defence against DNS rebinding.

A web page can make a victim's browser send requests to 127.0.0.1 under a
hostname the attacker controls; checking the Host header (and the Origin
header browsers add) refuses them. Only /mcp is checked: kubelet probes and
Prometheus reach /health, /ready and /metrics by pod IP, whatever the list.

Entries: a hostname or address (any port), `host:port` (that port only), `*`
(anything). Origins: `scheme://host[:port]`, `scheme://host:*`, or `*`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HostOriginMiddleware", "host_allowed", "origin_allowed"]

log = logging.getLogger(__name__)


def _split_host(value: str) -> tuple[str, str | None]:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8080
        end = value.find("]")
        host, rest = value[: end + 1], value[end + 1 :]
        return host, rest[1:] if rest.startswith(":") else None
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and host:
        return host, port
    return value, None


def host_allowed(host_header: str | None, allowed: Iterable[str]) -> bool:
    """Whether a Host header names one of the allowed hosts."""
    if not host_header:
        return False
    host, port = _split_host(host_header)
    for entry in allowed:
        if entry == "*":
            return True
        want_host, want_port = _split_host(entry)
        if want_port == "*" or entry.endswith(":*"):
            want_host = entry[:-2].lower()
            want_port = None
        if want_host == host and (want_port is None or want_port == port):
            return True
    return False


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """Whether an Origin header is allowed; requests without one (non-browsers) always are."""
    if not origin:
        return True
    origin = origin.strip().lower().rstrip("/")
    for entry in allowed:
        entry = entry.strip().lower().rstrip("/")
        if entry == "*" or entry == origin:
            return True
        if (
            entry.endswith(":*")
            and origin.startswith(entry[:-1])
            and origin[len(entry) - 1 :].isdigit()
        ):
            return True
    return False


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class HostOriginMiddleware:
    """Refuses requests to the guarded paths whose Host (421) or Origin (403) is not allowed."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str],
        allowed_origins: Iterable[str],
        paths: Iterable[str],
    ) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)
        self.allowed_origins = tuple(allowed_origins)
        self.paths = tuple(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.paths):
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        if not host_allowed(host, self.allowed_hosts):
            log.warning(
                "refused request with Host %r (allowed: %s)", host, ",".join(self.allowed_hosts)
            )
            await _refuse(send, 421, "Host header not allowed; see --allowed-hosts")
            return
        origin = _header(scope, b"origin")
        if not origin_allowed(origin, self.allowed_origins):
            log.warning("refused request with Origin %r", origin)
            await _refuse(send, 403, "Origin not allowed; see --allowed-origins")
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = f'{{"error":"forbidden","detail":"{detail}"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
