"""Admission control on /mcp: a few requests in flight, a short queue, then 503.

Why: tool calls and ingest share one event loop. Every request in flight is
a task the loop round-robins with the informers and the store writer, so 50
clients calling at once leave ingest a fiftieth of the CPU and the watch
cache falls behind the cluster, which is the one thing it must not do. The
limit keeps the MCP side to `concurrency` requests at a time (answers come
from memory and SQLite in milliseconds, so a few in flight already use a
core); the others wait their turn in a FIFO queue of `queue` places for at
most `wait_s` seconds. Past the queue, or past the wait, the request is
refused at once with 503, `Retry-After` and a JSON-RPC error body: shedding
at the door is cheap, while queueing without bound would only grow memory
and latency together.

Ingest has priority: while `pressure()` says ingest is behind (see
`LoopLagMonitor`), only `concurrency_under_pressure` requests run at a time,
and a slot rests after each request for as long as the request took (at
most `max_rest_s`) before the next waiter gets it. With one slot that caps
the MCP side at half of the loop's time, so on a machine short of CPU the
informers and the store writer catch up while queued callers wait (or,
past `wait_s`, are told to retry), rather than the cache going stale.

Long-lived requests are not counted: GET (the legacy standalone SSE stream)
and a 2026-07-28 `subscriptions/listen` POST (at that protocol version the
SDK checks that the `Mcp-Method` header matches the body, so the header
cannot be used to skip the queue with another method) stay open for minutes doing nothing, and
would hold a slot each.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import anyio
import msgspec
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "AdmissionLimit",
    "AdmissionMiddleware",
    "LoopLagMonitor",
    "arrived_at",
    "leave_admission",
]

_INTERNAL_ERROR = -32603  # JSON-RPC; the SDK answers its own "too many sessions" 503 with it
_LONG_LIVED_METHODS = frozenset({b"subscriptions/listen"})


class AdmissionLimit:
    """Counts requests in flight; `acquire()` admits, queues (FIFO) or refuses.

    Counters (`admitted`, `queued`, `refused_full`, `refused_timeout`) are
    plain integers read by the metrics at scrape time.
    """

    def __init__(
        self,
        *,
        concurrency: int,
        queue: int,
        wait_s: float,
        pressure: Callable[[], bool] | None = None,
        concurrency_under_pressure: int = 1,
        max_rest_s: float = 0.5,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if queue < 0:
            raise ValueError("queue must be non-negative")
        if not (math.isfinite(wait_s) and wait_s >= 0):
            raise ValueError("wait_s must be a non-negative number of seconds")
        self.concurrency = concurrency
        self.queue = queue
        self.wait_s = wait_s
        self.concurrency_under_pressure = max(1, min(concurrency, concurrency_under_pressure))
        self._pressure = pressure
        self.max_rest_s = max_rest_s
        self.in_flight = 0
        self._waiters: deque[anyio.Event] = deque()
        self._service_s = 0.005  # moving average of a request's time in flight
        self.admitted = 0
        self.queued = 0
        self.refused_full = 0
        self.refused_timeout = 0

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def under_pressure(self) -> bool:
        return self._pressure is not None and self._pressure()

    def limit(self) -> int:
        """Requests allowed in flight right now: fewer while ingest is behind."""
        return self.concurrency_under_pressure if self.under_pressure() else self.concurrency

    def rest_s(self, seconds: float) -> float:
        """How long a slot rests after a request that took `seconds`: 0 unless ingest is behind."""
        return min(seconds, self.max_rest_s) if self.under_pressure() else 0.0

    async def acquire(self) -> bool:
        """True once admitted (call `release()` after); False when refused."""
        if self.in_flight < self.limit() and not self._waiters:
            self.in_flight += 1
            self.admitted += 1
            return True
        if len(self._waiters) >= self.queue:
            self.refused_full += 1
            return False
        handed = anyio.Event()
        self._waiters.append(handed)
        self.queued += 1
        try:
            with anyio.move_on_after(self.wait_s):
                await handed.wait()
        except BaseException:  # cancelled (client gone): give back a slot handed meanwhile
            if handed.is_set():
                self.release()
            else:
                self._waiters.remove(handed)
            raise
        if handed.is_set():  # `release` counted us in flight when it handed the slot over
            self.admitted += 1
            return True
        self._waiters.remove(handed)
        self.refused_timeout += 1
        return False

    def release(self, *, seconds: float | None = None) -> None:
        """One request left; hand its slot to the longest waiter (or several, if the limit rose)."""
        self.in_flight -= 1
        if seconds is not None:
            self._service_s += (seconds - self._service_s) * 0.1
        limit = self.limit()
        while self._waiters and self.in_flight < limit:
            self.in_flight += 1
            self._waiters.popleft().set()

    def retry_after(self) -> int:
        """Whole seconds after which a retry likely finds room: the queue's drain time, 1..30."""
        drain = (len(self._waiters) + 1) * self._service_s / self.limit()
        return max(1, min(30, math.ceil(drain)))


_SLOT = "kube_watchcache.admission_slot"  # in scope["state"]: the request's `_Slot`
_ARRIVED = "kube_watchcache.arrived"  # in scope["state"]: anyio time it asked for a slot


class _Slot:
    """The admission slot one request holds; given back once, early or at the end."""

    def __init__(self, limit: AdmissionLimit) -> None:
        self.limit = limit
        self.held = True

    def release(self, *, seconds: float | None = None) -> None:
        if self.held:
            self.held = False
            self.limit.release(seconds=seconds)


def arrived_at(scope: Any) -> float | None:
    """When the request with ASGI `scope` asked for a slot (anyio's clock), if it did.

    A call whose time cap counts from its arrival (`query`) starts the clock
    here, so the wait in the admission queue is counted too.
    """
    state = scope.get("state") if isinstance(scope, dict) else None
    arrived = state.get(_ARRIVED) if isinstance(state, dict) else None
    return arrived if isinstance(arrived, float) else None


def leave_admission(scope: Any) -> None:
    """Give back the admission slot of the request with ASGI `scope`, if it holds one.

    For a call whose remaining work is bounded elsewhere and does not run on
    the event loop: a `query` waits for and runs on the store's own query
    connections (capped per client), so holding a slot meanwhile would only
    make every other call wait behind it.
    """
    state = scope.get("state") if isinstance(scope, dict) else None
    slot = state.get(_SLOT) if isinstance(state, dict) else None
    if isinstance(slot, _Slot):
        slot.release()


class LoopLagMonitor:
    """Measures how late the event loop runs a timer: the loop's backlog, ingest's included.

    Why the loop and not a queue: informers, the store writer and tool calls
    all run on this one loop, so a loop that wakes a 50 ms timer 200 ms late
    is one where watch events wait as long to be read. The figure is the
    worst lateness in the last `window_s` seconds; `behind()` compares it
    with `threshold_s`.
    """

    def __init__(
        self,
        *,
        threshold_s: float,
        interval_s: float = 0.05,
        window_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold_s = threshold_s
        self.interval_s = interval_s
        self.window_s = window_s
        self._clock = clock
        self._samples: deque[tuple[float, float]] = deque()  # (at, lateness)
        self._worst = 0.0

    @property
    def lag_s(self) -> float:
        """The worst timer lateness within the window (0 before the first sample)."""
        return self._worst

    def behind(self) -> bool:
        return self._worst > self.threshold_s

    def record(self, lateness: float) -> None:
        now = self._clock()
        self._samples.append((now, lateness))
        while self._samples and self._samples[0][0] < now - self.window_s:
            self._samples.popleft()
        self._worst = max(lateness for _, lateness in self._samples)

    async def run(self) -> None:
        """Sample forever (cancel to stop)."""
        while True:
            started = self._clock()
            await anyio.sleep(self.interval_s)
            self.record(max(0.0, self._clock() - started - self.interval_s))


class AdmissionMiddleware:
    """Applies `AdmissionLimit` to POSTs under `paths`; runs `background` tasks in the lifespan.

    `background` (e.g. `LoopLagMonitor.run`) lives as long as the app's
    lifespan, so the monitor starts and stops with the server, not per request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: AdmissionLimit,
        paths: Iterable[str],
        background: Iterable[Callable[[], Coroutine[Any, Any, None]]] = (),
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.paths = tuple(paths)
        self.background = tuple(background)
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.background:
            async with anyio.create_task_group() as tg:
                for task in self.background:
                    tg.start_soon(task)
                try:
                    await self.app(scope, receive, send)
                finally:
                    tg.cancel_scope.cancel()
            return
        if not self._counted(scope):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[_ARRIVED] = anyio.current_time()
        if not await self.limit.acquire():
            await self._refuse(send)
            return
        slot = _Slot(self.limit)
        state[_SLOT] = slot
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            seconds = time.perf_counter() - started
            try:
                rest = self.limit.rest_s(seconds) if slot.held else 0.0
                if rest > 0:  # the answer is sent; the slot idles so ingest can run
                    with anyio.CancelScope(shield=True):
                        await anyio.sleep(rest)
            finally:
                slot.release(seconds=seconds)

    def _counted(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope.get("method") != "POST":
            return False
        if not scope.get("path", "").startswith(self.paths):
            return False
        headers = dict(scope.get("headers", ()))
        version = headers.get(b"mcp-protocol-version", b"").decode("latin-1")
        if not version or version in HANDSHAKE_PROTOCOL_VERSIONS:
            return True  # the handshake era's POSTs are all short; its streams are GETs
        return headers.get(b"mcp-method") not in _LONG_LIVED_METHODS

    async def _refuse(self, send: Send) -> None:
        reason = "queue_full" if self.limit.waiting >= self.limit.queue else "wait_timeout"
        if self.on_refused is not None:
            self.on_refused(reason)
        retry_after = self.limit.retry_after()
        body = msgspec.json.encode(
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {
                    "code": _INTERNAL_ERROR,
                    "message": f"server busy ({reason.replace('_', ' ')}); "
                    f"retry after {retry_after} s",
                    "data": {"reason": reason, "retryAfterSeconds": retry_after},
                },
            }
        )
        start: Message = {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry_after).encode()),
            ],
        }
        await send(start)
        await send({"type": "http.response.body", "body": body})
