"""Watch events handed over a network read at a time (`EventBatchHandler`).

The batch path must keep the reflector's rules: events in the order received,
the resourceVersion advanced only after the handler took them, and the events
before a bookmark or an unreadable line handed over before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest

from kinds import KINDS
from simulator.server import Simulator
from store.model import EventType, PodRow
from tests.watcher.cluster import make_pod, set_pod_state
from tests.watcher.conftest import FAST, ChunkedResponse
from watcher import load_connection
from watcher.reflector import _HAND_OVER_EVERY, EventBatchHandler, Reflector
from watcher.stats import WatchStats
from watcher.transport import ApiTransport, Query

pytestmark = pytest.mark.anyio


class BatchRecorder:
    """A batch handler that records every call, and the reflector's resourceVersion at each."""

    def __init__(self) -> None:
        self.reflector: Reflector[PodRow] | None = None
        self.calls: list[tuple[str, Any]] = []
        self.rows: dict[str, PodRow] = {}
        self.rv_at_hand_over: list[tuple[str | None, list[str]]] = []
        self._changed = anyio.Event()

    def _touch(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, condition: Any) -> None:
        with anyio.fail_after(5):
            while not condition():
                await self._changed.wait()

    async def on_list_begin(self) -> None:
        self.calls.append(("list_begin", None))

    async def on_list_items(self, items: list[PodRow]) -> None:
        self.rows.update((r.uid, r) for r in items)

    async def on_list_end(self, resource_version: str, count: int) -> None:
        self.calls.append(("list_end", resource_version))
        self._touch()

    async def on_list(self, items: list[PodRow], resource_version: str) -> None:
        raise AssertionError("a ListStreamHandler is given the list piece by piece")

    async def on_event(self, type: EventType, item: PodRow) -> None:
        raise AssertionError("an EventBatchHandler is never given events one by one")

    async def on_events(self, events: list[tuple[EventType, PodRow]]) -> None:
        assert self.reflector is not None
        self.rv_at_hand_over.append(
            (self.reflector.resource_version, [row.resource_version for _, row in events])
        )
        self.calls.append(("events", [(t, row.name) for t, row in events]))
        for _, row in events:
            self.rows[row.uid] = row
        self._touch()

    async def on_bookmark(self, resource_version: str) -> None:
        self.calls.append(("bookmark", resource_version))

    async def on_error(self, error: str) -> None:
        self.calls.append(("error", error))
        self._touch()


def restarts(row: PodRow) -> int:
    return row.restarts


@asynccontextmanager
async def reflecting(transport: Any, handler: BatchRecorder) -> AsyncIterator[Reflector[PodRow]]:
    reflector: Reflector[PodRow] = Reflector(
        spec=KINDS["pods"], transport=transport, handler=handler, settings=FAST, stats=WatchStats()
    )
    handler.reflector = reflector
    async with anyio.create_task_group() as tg:
        tg.start_soon(reflector.run)
        yield reflector
        tg.cancel_scope.cancel()


async def test_a_batch_handler_gets_a_read_at_a_time_in_order(sim: Simulator) -> None:
    for i in range(30):
        sim.store.create("pods", make_pod(f"p{i}"))
    handler = BatchRecorder()
    assert isinstance(handler, EventBatchHandler)
    async with (
        await load_connection(server=sim.url) as conn,
        reflecting(ApiTransport(conn.api), handler) as reflector,
    ):
        await handler.until(lambda: ("list_begin", None) in handler.calls and reflector.synced)
        # Held back, then let out at once: the updates arrive in few network reads.
        sim.faults.stall_watches(resource="pods")
        for i in range(30):
            set_pod_state(sim, f"p{i}", restarts=i + 1)
        sim.faults.release_stalls()
        await handler.until(
            lambda: sorted(map(restarts, handler.rows.values())) == list(range(1, 31))
        )
        batches = [c[1] for c in handler.calls if c[0] == "events"]
        assert [name for b in batches for _, name in b] == [f"p{i}" for i in range(30)]
        assert len(batches) < 30  # one call per read, not per event
        # The resourceVersion moves past a batch only once the handler took it.
        for before, rvs in handler.rv_at_hand_over:
            assert before is not None
            assert all(int(before) < int(rv) for rv in rvs)
        last = handler.rv_at_hand_over[-1][1][-1]
        assert reflector.resource_version is not None
        assert int(reflector.resource_version) >= int(last)


class ReplayTransport:
    """Serves prepared watch bodies, one per request, and records each request's query.

    A stand-in for the server because the point is where an unreadable line
    falls *inside one network read*, which no real server can be made to
    choose; the lines themselves are the simulator's objects.
    """

    def __init__(self, bodies: list[list[bytes]]) -> None:
        self.bodies = bodies
        self.queries: list[dict[str, str]] = []
        self.served = anyio.Event()

    @asynccontextmanager
    async def stream(
        self, path: str, query: Query, *, inactivity_timeout: float
    ) -> AsyncIterator[Any]:
        self.queries.append(dict(query))
        chunks = self.bodies.pop(0) if self.bodies else []
        if not self.bodies:
            self.served.set()
        yield ChunkedResponse(chunks)


def _line(type_: str, obj: dict[str, Any]) -> bytes:
    return msgspec.json.encode({"type": type_, "object": obj}) + b"\n"


def _initial_end(rv: str) -> bytes:
    meta = {"resourceVersion": rv, "annotations": {"k8s.io/initial-events-end": "true"}}
    return _line("BOOKMARK", {"kind": "Pod", "apiVersion": "v1", "metadata": meta})


async def test_events_before_an_unreadable_line_are_taken_then_resumed_from(
    sim: Simulator,
) -> None:
    pods = [sim.store.create("pods", make_pod(f"p{i}")) for i in range(3)]
    rvs = [p["metadata"]["resourceVersion"] for p in pods]
    listed = b"".join(_line("ADDED", p) for p in pods) + _initial_end(rvs[-1])
    updated: list[dict[str, Any]] = []
    for i in range(3):
        set_pod_state(sim, f"p{i}", restarts=7)
        pod = sim.store.get("pods", "default", f"p{i}")
        assert pod is not None
        updated.append(pod)
    first, second, third = (_line("MODIFIED", p) for p in updated)
    transport = ReplayTransport(
        [
            # The streaming list, then one read: two events, garbage, a third event.
            [listed, first + second + b'{"type":"MODIFIED","object":{"metad\n' + third],
            # The reconnect: the server sends again what was not read.
            [third],
        ]
    )
    handler = BatchRecorder()
    async with reflecting(transport, handler) as reflector:
        await handler.until(lambda: sum(map(restarts, handler.rows.values())) == 21)
        with anyio.fail_after(5):
            await transport.served.wait()
        events = [c[1] for c in handler.calls if c[0] == "events"]
        assert events[0] == [("MODIFIED", "p0"), ("MODIFIED", "p1")]
        assert events[1] == [("MODIFIED", "p2")]
        # Resumed from the last event taken, not from before the read.
        second_rv = updated[1]["metadata"]["resourceVersion"]
        assert transport.queries[1]["resourceVersion"] == second_rv
        assert "sendInitialEvents" not in transport.queries[1]
        assert reflector._stats.restarts[("pods", "malformed")] == 1


async def test_a_huge_read_is_handed_over_in_pieces_in_order(sim: Simulator) -> None:
    """A backlog arriving in one read reaches the handler in pieces: the writer need not wait."""
    count = 2 * _HAND_OVER_EVERY + 10
    pods = [sim.store.create("pods", make_pod(f"p{i:04d}")) for i in range(count)]
    listed = _line("ADDED", pods[0]) + _initial_end(pods[0]["metadata"]["resourceVersion"])
    backlog = b"".join(_line("MODIFIED", p) for p in pods[1:])
    transport = ReplayTransport([[listed, backlog]])
    handler = BatchRecorder()
    async with reflecting(transport, handler):
        await handler.until(lambda: len(handler.rows) == count)
    batches = [c[1] for c in handler.calls if c[0] == "events"]
    assert [name for b in batches for _, name in b] == [f"p{i:04d}" for i in range(1, count)]
    every = _HAND_OVER_EVERY
    assert [len(b) for b in batches] == [every, every, count - 1 - 2 * every]
    for before, rvs in handler.rv_at_hand_over:
        assert before is not None
        assert all(int(before) < int(rv) for rv in rvs)
