"""Raw GET requests through kubernetes-asyncio's ApiClient, errors translated.

kubernetes-asyncio supplies the URL, the authentication headers (including
the refresh hook of rotating tokens) and the aiohttp session with its TLS
context; `_preload_content=False` hands us the aiohttp response before any
model is built, so bodies are read as bytes and decoded with msgspec. With
that flag the client does not check the status either, so the check (and the
translation of every aiohttp/asyncio failure into `watcher.errors`) happens
here, at the edge of the foreign library.

A watch response is consumed as batches of complete lines. The inactivity
timeout is aiohttp's `sock_read`: re-armed by every byte received, so events
and bookmarks both prove the stream alive, and a stream silent for longer
raises `StalledStreamError`. `set_read_timeout` shortens it on an open
stream, once the reflector knows the server's bookmark cadence (the timer is
aiohttp's own, already re-armed per chunk received, so this costs nothing per
read). Being byte-based, both timeouts are also re-armed by the blank
keep-alive lines a few proxies inject; the API server itself sends none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiohttp
from kubernetes_asyncio.client import ApiClient

from retry import parse_retry_after
from watcher.errors import (
    BODY_LIMIT,
    MalformedEventError,
    StalledStreamError,
    TransportError,
    api_error_from_status,
    decode_status,
)

__all__ = ["ApiTransport", "Query", "iter_line_batches", "set_read_timeout"]

Query = Sequence[tuple[str, str]]


class ApiTransport:
    """GET collections as bytes or as a stream of lines, on one ApiClient."""

    def __init__(self, api: ApiClient, *, connect_timeout: float = 10.0) -> None:
        self._api = api
        self._connect_timeout = connect_timeout

    async def _open(
        self, path: str, query: Query, *, read_timeout: float, total: float | None
    ) -> aiohttp.ClientResponse:
        timeout = aiohttp.ClientTimeout(
            total=total,
            connect=self._connect_timeout,
            sock_connect=self._connect_timeout,
            sock_read=read_timeout,
        )
        try:
            resp: aiohttp.ClientResponse = await self._api.call_api(
                path,
                "GET",
                query_params=list(query),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise TransportError(f"GET {path}: {type(e).__name__}: {e}") from e
        if resp.status != 200:
            await self._raise_for_status(resp, path)
        return resp

    async def _raise_for_status(self, resp: aiohttp.ClientResponse, path: str) -> None:
        try:
            body = await resp.content.read(BODY_LIMIT * 8)
        except (TimeoutError, aiohttp.ClientError, OSError):
            body = b""
        finally:
            resp.release()
        status = decode_status(body)
        raise api_error_from_status(
            resp.status,
            reason=status.reason or (resp.reason or ""),
            message=status.message or f"GET {path}",
            body=body.decode("utf-8", "replace"),
            retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            causes=status.causes,
        )

    async def get(self, path: str, query: Query, *, request_timeout: float) -> bytes:
        """One whole response body (a LIST page)."""
        resp = await self._open(path, query, read_timeout=request_timeout, total=request_timeout)
        try:
            return await resp.read()
        except TimeoutError as e:
            raise TransportError(
                f"GET {path}: no complete answer within {request_timeout} s"
            ) from e
        except (aiohttp.ClientError, OSError) as e:
            raise TransportError(f"GET {path}: {type(e).__name__}: {e}") from e
        finally:
            resp.release()

    @asynccontextmanager
    async def stream(
        self, path: str, query: Query, *, inactivity_timeout: float
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """An open watch response; read it with `iter_line_batches`."""
        resp = await self._open(path, query, read_timeout=inactivity_timeout, total=None)
        try:
            yield resp
        finally:
            resp.close()


def set_read_timeout(resp: aiohttp.ClientResponse, seconds: float) -> None:
    """Make an open stream's read timeout `seconds`, counted from now, then from each chunk.

    The connection's protocol holds the timer aiohttp re-arms on every chunk
    received; its `read_timeout` is what `sock_read` set at the request. A
    response without a live connection (already closed, or a test double)
    is left alone.
    """
    connection = getattr(resp, "connection", None)
    protocol = connection.protocol if connection is not None else None
    if protocol is None:
        return
    protocol.read_timeout = seconds
    protocol.start_timeout()


#: The longest watch line accepted. The API server caps an object at about
#: 1.5 MB, so a line this long is a broken or hostile stream, not an event.
MAX_LINE_BYTES = 64 * 1024 * 1024
_BRACE = ord("{")


async def iter_line_batches(
    resp: aiohttp.ClientResponse, *, max_line_bytes: int = MAX_LINE_BYTES
) -> AsyncIterator[list[memoryview]]:
    """The complete, non-empty lines of a streaming body, a network chunk at a time.

    Batching per chunk keeps per-event overhead low (one await per chunk, not
    per line). Lines are memoryview slices of the chunk, not copies: msgspec
    decodes from any buffer, and copying every line out of its chunk was a
    measurable share of an event's cost. Only a line cut by a chunk boundary
    is joined (its own bytes, not the rest of the chunk). A trailing partial
    line at a clean end of stream is dropped: the server never completed that
    event, and resuming from the last good resourceVersion makes it send the
    event again.
    """
    parts: list[bytes] = []
    pending = 0  # bytes held in `parts`: a line without an end must not grow forever
    content = resp.content
    try:
        while True:
            chunk = await content.readany()
            if not chunk:
                return
            end = chunk.find(b"\n")
            if end < 0:
                parts.append(chunk)
                pending += len(chunk)
                if pending > max_line_bytes:
                    raise MalformedEventError(
                        f"watch line longer than {max_line_bytes} bytes", line=parts[0][:200]
                    )
                continue
            batch: list[memoryview] = []
            if parts:
                parts.append(chunk[:end])
                head = b"".join(parts)
                parts.clear()
                if head and not head.isspace():
                    batch.append(memoryview(head))
                start = end + 1
                end = chunk.find(b"\n", start)
            else:
                start = 0
            view = memoryview(chunk)
            while end >= 0:
                # Blank lines (keep-alives some proxies add) are skipped; an
                # event starts with "{", so only other lines are looked at.
                if end > start and (chunk[start] == _BRACE or not chunk[start:end].isspace()):
                    batch.append(view[start:end])
                start = end + 1
                end = chunk.find(b"\n", start)
            pending = len(chunk) - start
            if pending:
                parts.append(chunk[start:])
            if batch:
                yield batch
    except TimeoutError as e:
        raise StalledStreamError("watch stream sent nothing within the inactivity timeout") from e
    except (aiohttp.ClientError, OSError) as e:
        raise TransportError(f"watch stream broke: {type(e).__name__}: {e}") from e
