"""The HTTP listener: uvicorn serving the ASGI app on a socket bound beforehand.

Binding first means the real port is known before serving (with `--port 0`)
and a port conflict is a clear `ConfigError` instead of uvicorn's
`sys.exit(3)`. Signals belong to the composition root, not to uvicorn:
uvicorn's own handlers would re-raise SIGTERM after shutdown and turn a clean
stop into a non-zero exit, so they are disabled here and `stop()` is called
instead. Open SSE streams (subscriptions) never finish by themselves, so the
graceful drain is bounded. Each request's headers must arrive within
`header_timeout` seconds (`mcpserver.web.deadlines`): uvicorn has no such
deadline of its own, so a slow sender could hold a connection forever.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Generator

import anyio
import uvicorn
from starlette.types import ASGIApp

from mcpserver.errors import ConfigError
from mcpserver.web.deadlines import header_deadline_protocol

__all__ = ["HttpListener", "bind_socket"]

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._on_started()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0: any free port), or a clear `ConfigError`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only when it
    # does, and without it every response pays Nagle + delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class HttpListener:
    """Serves `app` on a bound socket: `serve()` until `stop()`; `port` is the bound port."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sock: socket.socket,
        drain_timeout: int = 3,
        header_timeout: float = 10.0,
        on_header_timeout: Callable[[], None] | None = None,
    ) -> None:
        self._sock = sock
        self._drain_timeout = drain_timeout
        address = sock.getsockname()
        self.host: str = address[0]
        self.port: int = address[1]
        config = uvicorn.Config(
            app,
            http=header_deadline_protocol(timeout=header_timeout, on_timeout=on_header_timeout),
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=drain_timeout,
            server_header=False,
        )
        self.settled = anyio.Event()  # set once serving, or once serving failed
        self._served = anyio.Event()
        self._server = _Server(config, on_started=self.settled.set)

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    async def serve(self) -> None:
        """Serve until `stop()`; returns after the drain (connections closed or timed out)."""
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            self._sock.close()
            self.settled.set()
            self._served.set()

    def stop(self) -> None:
        """Stop accepting connections and drain the open ones."""
        self._server.should_exit = True

    async def drain(self) -> None:
        """`stop()`, then wait until the server has finished (bounded: the drain timeout + 5 s)."""
        self.stop()
        with anyio.move_on_after(self._drain_timeout + 5):
            await self._served.wait()
