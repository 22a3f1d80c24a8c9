"""Helpers for running the agent as it runs in a pod: a webhook receiver and pod-style env.

The receiver is a real HTTP server on loopback that records every POST, so
"delivered exactly once" is counted where it matters, at the receiving end.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from aiohttp import web

from store.model import Transition

TransitionKey = tuple[str, str, str, str | None, str | None]


def key_of(item: Transition | dict[str, Any]) -> TransitionKey:
    """What identifies one status change across replicas (history ids are per replica)."""
    if isinstance(item, Transition):
        return (item.namespace, item.name, item.field, item.old, item.new)
    return (item["namespace"], item["name"], item["field"], item["old"], item["new"])


@dataclass
class Delivery:
    body: dict[str, Any]
    replica: str | None

    @property
    def key(self) -> TransitionKey:
        return key_of(self.body)


@dataclass
class Receiver:
    """Every webhook POST received, with the replica that sent it; awaitable."""

    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    _changed: anyio.Event = field(default_factory=anyio.Event)

    def counts(self) -> Counter[TransitionKey]:
        return Counter(d.key for d in self.deliveries)

    async def wait_for(self, wanted: set[TransitionKey]) -> None:
        while not wanted <= {d.key for d in self.deliveries}:
            await self._changed.wait()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.deliveries.append(Delivery(body, request.headers.get("X-Watchcache-Replica")))
        self._changed.set()
        self._changed = anyio.Event()
        return web.Response(status=204)


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver._handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@dataclass
class Seen:
    """An in-process sink: the transitions one agent computed, awaitable."""

    keys: list[TransitionKey] = field(default_factory=list)
    _changed: anyio.Event = field(default_factory=anyio.Event)

    def __call__(self, t: Transition) -> None:
        self.keys.append(key_of(t))
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, wanted: set[TransitionKey]) -> None:
        while not wanted <= set(self.keys):
            await self._changed.wait()
