"""One request per JSON-RPC id at a time within a 2025-11-25 session.

Why: the SDK's session transport routes an answer to the HTTP request that
waits for its JSON-RPC id. A second request with the id of one still in
flight takes that route over, and the first never gets its answer: its POST
hangs until the client gives up, holding an admission slot all the while.
Four such pairs locked every other caller out, like four slow senders did.
The protocol already forbids reusing an id within a session, so the second
request is refused here (409 with a JSON-RPC error) before it takes a slot.

Only session POSTs (an `Mcp-Session-Id` header) are looked at: a 2026-07-28
request has no session and gets its own answer stream. The body arrives
whole (`BodyDeadlineMiddleware` runs first), so reading it here costs one
JSON decode.
"""

from __future__ import annotations

import logging

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["InFlightIdGuard"]

log = logging.getLogger(__name__)

_INVALID_REQUEST = -32600  # JSON-RPC


class InFlightIdGuard:
    """Refuses a session request whose id is already in flight in that session."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._in_flight: set[tuple[bytes, bytes]] = set()  # (session id, encoded request id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = _session_of(scope)
        if session is None:
            await self.app(scope, receive, send)
            return
        first = await receive()
        key = (session, _request_id(first.get("body", b"")))
        sent = False

        async def replayed() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return first
            return await receive()

        if not key[1]:  # a notification, a response or unreadable: nothing is routed by id
            await self.app(scope, replayed, send)
            return
        if key in self._in_flight:
            log.info("refused a request reusing the in-flight id %s in its session", key[1][:40])
            await _conflict(send)
            return
        self._in_flight.add(key)
        try:
            await self.app(scope, replayed, send)
        finally:
            self._in_flight.discard(key)


def _session_of(scope: Scope) -> bytes | None:
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    for name, value in scope.get("headers", ()):
        if name == b"mcp-session-id":
            return bytes(value)
    return None


def _request_id(body: bytes) -> bytes:
    """The request's id, encoded; b"" when the body is not one JSON-RPC request."""
    try:
        message = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):  # not JSON, or nested too deep: the SDK says so
        return b""
    if not isinstance(message, dict) or "method" not in message or message.get("id") is None:
        return b""
    try:
        return msgspec.json.encode(message["id"])
    except (
        TypeError,
        ValueError,
        OverflowError,
    ):  # not re-encodable (huge int): the SDK refuses it
        return b""


async def _conflict(send: Send) -> None:
    body = msgspec.json.encode(
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": _INVALID_REQUEST,
                "message": "a request with this id is still in flight in this session; "
                "use a new id for each request",
            },
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 409,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
