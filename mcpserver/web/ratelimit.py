"""A per-client token bucket in front of /mcp (off unless `--rate-limit` is set).

Answers come from a local SQLite file, so one client cannot hurt the cluster,
but it can starve the others of the agent's CPU; the bucket caps each client
(named by its token label, else its address) at `rate` requests per second with
bursts of `burst`. A refused request gets 429 and `Retry-After` in whole
seconds, as RFC 9110 asks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from mcpserver.web.auth import client_label

__all__ = ["RateLimitMiddleware", "TokenBuckets"]

_MAX_CLIENTS = 10_000


class TokenBuckets:
    """One bucket per client: `take(client)` says 0 (go) or how many seconds until a token."""

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = float(burst if burst > 0 else max(1, math.ceil(2 * rate)))
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def take(self, client: str) -> float:
        now = self._clock()
        tokens, at = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._store(client, tokens - 1.0, now)
            return 0.0
        self._store(client, tokens, now)
        return (1.0 - tokens) / self.rate

    def _store(self, client: str, tokens: float, now: float) -> None:
        if client not in self._buckets and len(self._buckets) >= _MAX_CLIENTS:
            # Forget full buckets first: a client with a full bucket loses nothing.
            for stale in [c for c, (t, _) in self._buckets.items() if t >= self.burst - 1e-9]:
                del self._buckets[stale]
            if len(self._buckets) >= _MAX_CLIENTS:
                self._buckets.pop(next(iter(self._buckets)))
        self._buckets[client] = (tokens, now)


class RateLimitMiddleware:
    """Applies `TokenBuckets` to requests under the given paths."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        buckets: TokenBuckets,
        paths: Iterable[str],
        on_limited: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.paths = tuple(paths)
        self.on_limited = on_limited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.paths):
            await self.app(scope, receive, send)
            return
        client = client_label(scope)
        wait = self.buckets.take(client)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        if self.on_limited is not None:
            self.on_limited(client)
        retry_after = str(max(1, math.ceil(wait))).encode()
        body = b'{"error":"rate_limited","detail":"too many requests; retry after Retry-After"}'
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", retry_after),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
