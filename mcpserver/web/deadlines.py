"""Read deadlines: a request's headers and its body must arrive in bounded time.

Why: a connection that sends its headers slowly, or its headers and then a
trickle of its body, costs the sender nothing and the agent a connection and
a buffer for as long as it lasts; worse, a request whose body is still
arriving would hold one of the few /mcp admission slots (`mcpserver.web.admission`)
while nothing is being answered. Four such callers used to lock every other
client out. Two deadlines close that:

- headers: uvicorn's h11 protocol has no deadline between accepting a
  connection (or the first byte of the next request on a kept-alive one) and
  the end of the request's headers, so `header_deadline_protocol` adds one.
  A late sender gets `408 Request Timeout` and the connection is closed.
- body: `BodyDeadlineMiddleware` reads the whole body before the request
  goes further (so before admission: a slot is taken only once the request
  can be answered), within a deadline counted from the end of the headers. A
  late sender gets 408 with a JSON-RPC error and `Connection: close`.

Both are counted (`on_timeout`), so an operator sees slow senders on /metrics.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable

import anyio
import h11
import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BodyDeadlineMiddleware", "header_deadline_protocol"]

log = logging.getLogger(__name__)

_INVALID_REQUEST = -32600  # JSON-RPC


def _timeout_response(detail: str) -> bytes:
    body = detail.encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's headers.

    The clock starts when the connection is accepted, and on a kept-alive
    connection when the next request's first byte arrives (an idle kept-alive
    connection is uvicorn's keep-alive timeout's business). It stops once h11
    has parsed the request line and headers.
    """

    header_timeout: float = 10.0
    on_header_timeout: Callable[[], None] | None = None

    _header_deadline: asyncio.TimerHandle | None = None
    _header_bytes = False  # some of the pending request's head has arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers():
            self._header_bytes = True
            if self._header_deadline is None:
                self._arm_header_deadline()
        super().data_received(data)
        if not self._awaiting_headers():
            self._disarm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _awaiting_headers(self) -> bool:
        # The client is IDLE in h11's terms until its request line and headers are parsed.
        return self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        self._header_bytes = False

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing() or not self._awaiting_headers():
            return
        if self.on_header_timeout is not None:
            self.on_header_timeout()
        log.info(
            "closed a connection from %s: request headers not complete within %g s",
            _peer(self.client),
            self.header_timeout,
        )
        if self._header_bytes:
            self.transport.write(
                _timeout_response(
                    f"request headers not received within {self.header_timeout:g} s\n"
                )
            )
        self.transport.close()


def header_deadline_protocol(
    *, timeout: float, on_timeout: Callable[[], None] | None = None
) -> type[H11Protocol]:
    """An h11 protocol class for `uvicorn.Config(http=...)` enforcing `timeout` on headers."""
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError("the header deadline must be a positive number of seconds")
    return type(
        "HeaderDeadlineProtocol",
        (_HeaderDeadlineProtocol,),
        {
            "header_timeout": timeout,
            # staticmethod: a plain function stored on a class would be bound as a method
            "on_header_timeout": staticmethod(on_timeout) if on_timeout is not None else None,
        },
    )


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "an unknown peer"


class BodyDeadlineMiddleware:
    """Reads a request's whole body within `timeout` seconds, then passes it on.

    The body is held in memory up to `max_body_size` bytes (the MCP SDK's own
    limit; larger gets 413, as the SDK would answer), and replayed to the app
    as one message; what the client sends after it (a disconnect) reaches the
    app as usual. A client that leaves mid-body is not answered.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        timeout: float,
        max_body_size: int,
        on_timeout: Callable[[], None] | None = None,
    ) -> None:
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError("the body deadline must be a positive number of seconds")
        self.app = app
        self.timeout = timeout
        self.max_body_size = max_body_size
        self.on_timeout = on_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_body_size:
            await _refuse(send, 413, "request body too large")
            return
        body = bytearray()
        client_left = False
        with anyio.move_on_after(self.timeout) as deadline:
            while True:
                message = await receive()
                if message["type"] != "http.request":  # http.disconnect: gone mid-body
                    client_left = True
                    break
                body += message.get("body", b"")
                if len(body) > self.max_body_size:
                    await _refuse(send, 413, "request body too large")
                    return
                if not message.get("more_body", False):
                    break
        if deadline.cancelled_caught:
            if self.on_timeout is not None:
                self.on_timeout()
            log.info(
                "closed a connection from %s: %s %s body not complete within %g s (%d bytes read)",
                _peer(scope.get("client")),
                scope.get("method"),
                scope.get("path"),
                self.timeout,
                len(body),
            )
            await _refuse(send, 408, f"request body not received within {self.timeout:g} s")
            return
        if client_left:
            return  # nobody to answer
        replay: deque[Message] = deque(
            [{"type": "http.request", "body": bytes(body), "more_body": False}]
        )

        async def replayed() -> Message:
            return replay.popleft() if replay else await receive()

        await self.app(scope, replayed, send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server rejects a malformed length before us
    return 0


async def _refuse(send: Send, status: int, message: str) -> None:
    """Answer with a JSON-RPC error and close: the unread body leaves the connection unusable."""
    body = msgspec.json.encode(
        {"jsonrpc": "2.0", "id": None, "error": {"code": _INVALID_REQUEST, "message": message}}
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
