"""A watch stream that goes silent is admitted at once: stale, counted, reconnected.

The server sends a bookmark every 0.2 s; the inactivity timeout is set far
beyond the test's bounds (30 s), so only the learned cadence can notice the
stall. The store is a real SQLite file; its sync state is what every answer's
freshness comes from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from simulator.server import Simulator
from store.model import Kind, SyncState
from store.service import Store
from tests.watcher.cluster import make_pod, set_pod_state
from tests.watcher.conftest import FAST, NotifyingSink, informing, store_rows
from watcher import Informers

pytestmark = pytest.mark.anyio

# Only the learned cadence can notice a stall within the test's bounds.
SILENCE = dataclasses.replace(FAST, inactivity_timeout=30.0, silence_factor=3.0, silence_floor=0.1)


class RecordingSink(NotifyingSink):
    """The store's writer, with every sync of the pods kind kept in order."""

    def __init__(self, writer: Any) -> None:
        super().__init__(writer)
        self.pod_syncs: list[dict[str, Any]] = []

    async def sync(self, kind: Kind, **fields: Any) -> None:
        if kind == Kind.POD:
            self.pod_syncs.append(fields)
        await super().sync(kind, **fields)


async def pod_state(store: Store) -> SyncState:
    await store.writer.flush()
    return store.reader.sync_states()[Kind.POD]


async def until(sink: NotifyingSink, condition: Callable[[], bool], *, within: float) -> None:
    with anyio.fail_after(within):
        while not condition():
            await sink.changed()


def silences(inf: Informers) -> int:
    return inf.stats.restarts[("pods", "silent")]


async def test_a_stalled_stream_with_bookmarks_is_declared_silent(store: Store) -> None:
    async with Simulator(bookmark_interval=0.2) as sim:
        for i in range(3):
            sim.store.create("pods", make_pod(f"p{i}"))
        sink = RecordingSink(store.writer)
        async with informing(sim, sink, settings=SILENCE, kinds=("pods",)) as inf:
            # Bookmarks arrive: the list's end, then three more (two gaps) make the cadence known.
            await until(sink, lambda: inf.stats.events[("pods", "BOOKMARK")] >= 4, within=10)
            assert (await pod_state(store)).error is None
            sim.faults.stall_watches(resource="pods")
            set_pod_state(sim, "p0", phase="Running", ready=False, waiting="CrashLoopBackOff")
            await until(sink, lambda: silences(inf) >= 1, within=10)
            first = len(sink.pod_syncs)
            state = await pod_state(store)
            assert state.error is not None
            assert state.error.startswith("watch silent for ")
            assert "(bookmarks came every " in state.error
            assert state.error.endswith("; reconnecting")
            # The reconnected watch is answered (headers) but stays silent: that
            # is no proof of life, so the kind stays stale and is declared again.
            await until(sink, lambda: silences(inf) >= 2, within=10)
            assert (await pod_state(store)).error is not None
            during = sink.pod_syncs[first - 1 :]
            assert all(fields.get("error") for fields in during), during
            sim.faults.release_stalls()
            # The stream delivers again: the error clears and the held-back change arrives.
            p0 = sim.store.get("pods", "default", "p0")
            assert p0 is not None
            uid = p0["metadata"]["uid"]
            with anyio.fail_after(10):
                while True:
                    mark = sink.marker()
                    state = await pod_state(store)
                    rows = await store_rows(store.reader, Kind.POD)
                    if state.error is None and rows[uid].status == "CrashLoopBackOff":
                        break
                    await mark.wait()
        # The inactivity timeout never fired: the cadence did the work.
        assert inf.stats.restarts[("pods", "stalled")] == 0
        assert inf.stats.relists["pods"] == 1  # a silent stream resumes; nothing is relisted
