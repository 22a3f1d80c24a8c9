"""WATCH: streaming events from the store to each client, as the watch cache does.

Each committed change is offered to every open stream of its resource the
moment it is committed (synchronously, from the store's listener), so a
stream's backlog is exactly the events it has not written yet, in commit
order. That gives the rules clients depend on for free: no gaps, no
duplicates, resourceVersions strictly increasing, and a BOOKMARK sent only
when the backlog is empty carries the store's current resourceVersion
without skipping anything.

Streams with selectors translate events the way the real watch cache does:
an object that stops matching is a DELETED for that watcher, one that starts
matching is an ADDED. The shared event line (`Event.line`) is reused by every
watcher that needs no translation, so fan-out to many watchers costs one
encode per event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from .errors import Expired
from .faults import Faults
from .resources import ResourceInfo
from .selectors import FieldSelector, LabelSelector
from .storage import Entry, Event, ObjectStore
from .tables import table_for

__all__ = ["WatchHub", "WatchRequest", "WatchStream"]

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_BATCH_BYTES = 256 * 1024
# Sent instead of an event by the malformed-line fault: a line a JSON parser must reject.
MALFORMED_LINE = b'{"type":"MODIFIED","object":{"kind":"Pod",<<malformed by fault>>\n'
_WATCH_CONTENT_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """What one WATCH asked for, already validated by the HTTP layer."""

    info: ResourceInfo
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    since_rv: int | None  # replay events after this RV; None: start from a snapshot
    initial_events: bool  # synthetic ADDED for the snapshot (rv unset/0, sendInitialEvents)
    end_bookmark: bool  # sendInitialEvents=true: annotated BOOKMARK after the snapshot
    bookmarks: bool
    timeout: float | None
    table_version: str | None
    include_object: str


class WatchStream:
    """One open watch: its filter, its backlog and the loop that writes it."""

    def __init__(self, request: WatchRequest, *, hub: WatchHub) -> None:
        self.request = request
        self.resource = request.info.plural
        self._hub = hub
        self._backlog: deque[Event] = deque()
        self._initial: list[bytes] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._filtered = not (request.labels.empty and request.fields.empty)
        self._table_headers_sent = False
        self._rule_id = 0
        self._rule_count = 0

    # called by the hub, synchronously, for every event of this resource
    def offer(self, event: Event) -> None:
        namespace = self.request.namespace
        if namespace is not None and event.key[0] != namespace:
            return
        self._backlog.append(event)
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def _matches(self, entry: Entry) -> bool:
        req = self.request
        return req.labels.matches(entry.labels) and req.fields.matches(entry.fields)

    def _object_line(self, type_: str, raw: bytes, obj: dict[str, Any] | None = None) -> bytes:
        if self.request.table_version is None:
            return b'{"type":"%s","object":%s}\n' % (type_.encode(), raw)
        table = table_for(
            self.request.info,
            [obj if obj is not None else _decode(raw)],
            resource_version=str(_decode(raw)["metadata"].get("resourceVersion", "")),
            include_object=self.request.include_object,
            table_version=self.request.table_version,
            headers=not self._table_headers_sent,
        )
        self._table_headers_sent = True
        return _encode({"type": type_, "object": table}) + b"\n"

    def render(self, event: Event) -> bytes | None:
        """This watcher's line for `event`, or None when it does not see it."""
        if not self._filtered:
            if self.request.table_version is None:
                return event.line
            return self._object_line(event.type, event.entry.raw)
        new_passes = event.type != "DELETED" and self._matches(event.entry)
        old_passes = event.prev is not None and self._matches(event.prev)
        if new_passes and old_passes:
            return self._object_line("MODIFIED", event.entry.raw)
        if new_passes:
            return self._object_line("ADDED", event.entry.raw)
        if old_passes:
            if event.type == "DELETED":
                return self._object_line("DELETED", event.entry.raw)
            assert event.prev is not None
            # The last version this watcher saw, stamped with the event's RV.
            gone = event.prev.decode()
            gone["metadata"]["resourceVersion"] = str(event.rv)
            return self._object_line("DELETED", _encode(gone), gone)
        return None

    def bookmark_line(self, rv: int, *, initial_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        info = self.request.info
        obj = {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}
        return _encode({"type": "BOOKMARK", "object": obj}) + b"\n"

    def prime(self, store: ObjectStore) -> None:
        """Capture the starting point synchronously, before any await.

        Registration and this snapshot happen in one step of the event loop,
        so every later change lands in the backlog and none is lost or doubled.
        """
        req = self.request
        if req.since_rv is not None:
            try:
                replay = store.events_since(req.since_rv)
            except Expired as exc:
                self._initial.append(_encode({"type": "ERROR", "object": exc.status()}) + b"\n")
                self._stopping = True
                return
            self._backlog.extend(e for e in replay if e.resource == self.resource)
            if req.namespace is not None:
                self._backlog = deque(e for e in self._backlog if e.key[0] == req.namespace)
            return
        snapshot_rv = store.resource_version
        if req.initial_events:
            for entry in store.entries(self.resource, req.namespace):
                if self._filtered and not self._matches(entry):
                    continue
                self._initial.append(self._object_line("ADDED", entry.raw))
        if req.end_bookmark:
            self._initial.append(self.bookmark_line(snapshot_rv, initial_end=True))

    async def run(self, request: web.Request, faults: Faults) -> web.StreamResponse:
        """Write the stream until timeout, a fault, shutdown or the client leaves."""
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": self._content_type(), "Cache-Control": "no-cache, private"},
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        req = self.request
        deadline = None if req.timeout is None else loop.time() + req.timeout
        interval = self._hub.bookmark_interval
        next_bookmark = loop.time() + interval if req.bookmarks else None
        try:
            if self._initial:
                lines, self._initial = self._initial, []
                if not await self._write_events(response, request, faults, lines):
                    return response
            while not self._stopping:
                if faults.is_stalled(self.resource):
                    await self._stall(faults)
                    continue
                now = loop.time()
                if deadline is not None and now >= deadline:
                    break
                if self._backlog:
                    lines = []
                    while self._backlog:
                        line = self.render(self._backlog.popleft())
                        if line is not None:
                            lines.append(line)
                    if lines and not await self._write_events(response, request, faults, lines):
                        return response
                    continue
                if next_bookmark is not None and now >= next_bookmark:
                    await response.write(self.bookmark_line(self._hub.store.resource_version))
                    next_bookmark = now + interval
                    continue
                wake_at = min(t for t in (deadline, next_bookmark, now + 3600.0) if t is not None)
                self._wake.clear()
                if self._backlog or self._stopping:
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wake_at - now):
                        await self._wake.wait()
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away; nothing left to tell it
        return response

    def _content_type(self) -> str:
        version = self.request.table_version
        if version is None:
            return _WATCH_CONTENT_TYPE
        return f"application/json;as=Table;v={version};g=meta.k8s.io"

    async def _stall(self, faults: Faults) -> None:
        """Hold everything back (events, bookmarks, the clean end) while stalled."""
        while faults.is_stalled(self.resource) and not self._stopping:
            self._wake.clear()
            released = asyncio.ensure_future(faults.wait_released())
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({released, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                released.cancel()
                woken.cancel()

    async def _write_events(
        self,
        response: web.StreamResponse,
        request: web.Request,
        faults: Faults,
        lines: list[bytes],
    ) -> bool:
        """Write event lines, applying per-event faults; False when the stream ended."""
        batch: list[bytes] = []
        size = 0
        for line in lines:
            is_event = not line.startswith(b'{"type":"BOOKMARK"')
            if is_event and faults.take_truncated(self.resource):
                if batch:
                    await response.write(b"".join(batch))
                self._truncate(request, line)
                return False
            if is_event and faults.take_malformed(self.resource):
                line = MALFORMED_LINE
            batch.append(line)
            size += len(line)
            if line.startswith(b'{"type":"ERROR"'):
                await response.write(b"".join(batch))
                await response.write_eof()
                return False
            if is_event and self._close_rule_fires(faults):
                await response.write(b"".join(batch))
                await response.write_eof()
                return False
            if size >= _BATCH_BYTES:
                await response.write(b"".join(batch))
                batch, size = [], 0
        if batch:
            await response.write(b"".join(batch))
        if self._stopping and not self._backlog:
            await response.write_eof()
            return False
        return True

    def _close_rule_fires(self, faults: Faults) -> bool:
        rule = faults.close_rule(self.resource)
        if rule is None:
            return False
        if rule.id != self._rule_id:
            self._rule_id, self._rule_count = rule.id, 0
        self._rule_count += 1
        if self._rule_count < rule.events:
            return False
        faults.consume_close(rule)
        return True

    @staticmethod
    def _truncate(request: web.Request, line: bytes) -> None:
        """Announce a chunk of the whole line, send half of it, drop the connection."""
        transport = request.transport
        if transport is None:
            return
        half = line[: max(1, len(line) // 2)]
        transport.write(b"%x\r\n" % len(line) + half)
        transport.close()


class WatchHub:
    """Open streams by resource, fed by the store's event listener."""

    def __init__(self, store: ObjectStore, *, bookmark_interval: float) -> None:
        self.store = store
        self.bookmark_interval = bookmark_interval
        self._streams: dict[str, set[WatchStream]] = {}
        self._rv_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._changed: list[Callable[[], None]] = []
        self._attached = False

    def attach(self) -> None:
        """Start receiving the store's events (idempotent): the server is up."""
        if not self._attached:
            self.store.add_event_listener(self._on_event)
            self._attached = True

    def detach(self) -> None:
        """Stop receiving them (idempotent): the store may outlive this server."""
        if self._attached:
            self.store.remove_listener(self._on_event)
            self._attached = False

    def _on_event(self, event: Event) -> None:
        for stream in self._streams.get(event.resource, ()):
            stream.offer(event)
        if self._rv_waiters:
            still: list[tuple[int, asyncio.Future[None]]] = []
            for target, future in self._rv_waiters:
                if event.rv >= target:
                    if not future.done():
                        future.set_result(None)
                else:
                    still.append((target, future))
            self._rv_waiters = still
        for callback in list(self._changed):
            callback()

    def open(self, request: WatchRequest) -> WatchStream:
        stream = WatchStream(request, hub=self)
        self._streams.setdefault(stream.resource, set()).add(stream)
        stream.prime(self.store)
        for callback in list(self._changed):
            callback()
        return stream

    def close(self, stream: WatchStream) -> None:
        self._streams.get(stream.resource, set()).discard(stream)
        for callback in list(self._changed):
            callback()

    def stop_all(self) -> None:
        for streams in self._streams.values():
            for stream in streams:
                stream.stop()

    def count(self, resource: str | None = None) -> int:
        if resource is not None:
            return len(self._streams.get(resource, ()))
        return sum(len(s) for s in self._streams.values())

    def on_change(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` after every event and stream open/close; returns a remover."""
        self._changed.append(callback)
        return lambda: self._changed.remove(callback)

    async def wait_for_rv(self, rv: int, *, within: float) -> bool:
        """Wait until the store reaches `rv`; False if it did not `within` seconds."""
        if self.store.resource_version >= rv:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rv_waiters.append((rv, future))
        try:
            async with asyncio.timeout(within):
                await future
        except TimeoutError:
            return False
        finally:
            self._rv_waiters = [(t, f) for t, f in self._rv_waiters if f is not future]
        return True
