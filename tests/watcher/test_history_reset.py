"""When the server's history went away, the informers relist and replace.

A restored or replaced control plane (the simulator's history-reset restart:
a lower resourceVersion, the same names, new uids) answers the agent's old
resourceVersion with 504 "Too large resource version", or, behind a proxy
or on an old server, serves it from its lower state without a word. Either
way the store must come to hold exactly the new objects, uids included, and
say it is stale meanwhile. Against the simulator over loopback, with a real
SQLite store.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import pytest

from kinds import KINDS
from simulator.scenario import Scenario
from simulator.server import Simulator
from store.model import Kind
from store.service import Store
from tests.reliability.compare import ALL_KINDS, converge
from tests.watcher.cluster import make_pod, set_pod_state
from tests.watcher.conftest import FAST, NotifyingSink, informing, store_rows
from watcher import Informers

pytestmark = pytest.mark.anyio

# Every informer of the default install: the stored kinds, and replicasets to link pods.
FEEDS = tuple(KINDS)


class ErrorLog(NotifyingSink):
    """The store's writer, with every sync-state error kept."""

    def __init__(self, writer: Any) -> None:
        super().__init__(writer)
        self.errors: list[tuple[Kind, str]] = []

    async def sync(self, kind: Kind, **fields: Any) -> None:
        if fields.get("error"):
            self.errors.append((kind, fields["error"]))
        await super().sync(kind, **fields)


async def until_converged(store: Store, sim: Simulator, *, within: float) -> None:
    result = await converge(store, sim, within=within)
    assert not result.mismatches, result.mismatches[:10]


async def until(sink: NotifyingSink, condition: Any, *, within: float = 5.0) -> None:
    with anyio.fail_after(within):
        while not condition():
            await sink.changed()


@pytest.mark.parametrize("refused", [True, False], ids=["504-too-large", "served-lower"])
async def test_a_history_reset_restart_converges(store: Store, refused: bool) -> None:
    # future_rv_wait: how long the server waits for a version it has not
    # reached before its 504 (3 s in the API server); below FAST's 0.8 s
    # inactivity timeout, which would otherwise cut the request first.
    async with Simulator(bookmark_interval=0.2, future_rv_wait=0.3) as sim:
        scenario = Scenario(
            sim.store,
            seed=7,
            nodes=3,
            deployments=4,
            pods_per_deployment=2,
            namespaces=2,
            churn=0.0,
            events=False,
        )
        scenario.populate()
        sink = ErrorLog(store.writer)
        async with informing(sim, sink, settings=FAST) as inf:
            for _ in range(6):  # changes: the history is longer than the object count
                scenario.step()
            await until_converged(store, sim, within=5.0)
            # Every watch holds the current version (bookmarks bring the quiet kinds
            # there), so each meets the reset itself rather than a plain 410.
            now = str(sim.store.resource_version)
            await until(sink, lambda: all(r.resource_version == now for r in inf.reflectors))
            old = {kind: set(await store_rows(store.reader, kind)) for kind in ALL_KINDS}
            if not refused:
                sim.faults.serve_future_resource_versions()
            await sim.restart(history_reset=True)
            # Object by object, uids included, within 5 s of the fault.
            await until_converged(store, sim, within=5.0)
            for kind in ALL_KINDS:
                assert not old[kind] & set(await store_rows(store.reader, kind)), kind
            reason = "too-large" if refused else "history-reset"
            counted = _relists(inf, reason)
            assert set(counted) == set(FEEDS), counted
            said = "has not reached resourceVersion" if refused else "went back from"
            assert any(said in error for _, error in sink.errors), sink.errors
            # The watches go on from the new history.
            for _ in range(4):
                scenario.step()
            await until_converged(store, sim, within=5.0)
            await store.writer.flush()
            assert all(s.error is None for s in store.reader.sync_states().values())


def _relists(inf: Informers, reason: str) -> dict[str, int]:
    return {k: n for (k, r), n in inf.stats.relist_reasons.items() if r == reason and n}


async def test_too_large_resource_version_on_a_watch_relists(store: Store) -> None:
    async with Simulator(bookmark_interval=0.3) as sim:
        for i in range(4):
            sim.store.create("pods", make_pod(f"p{i}"))
        sink = ErrorLog(store.writer)
        async with informing(sim, sink, kinds=("pods",)) as inf:
            # The next pods watch is refused with a 504 whose cause is
            # ResourceVersionTooLarge (a lagging or restored API server).
            sim.faults.fail_next(1, status=504, verb="watch", resource="pods")
            sim.faults.close_watches_after(1, streams=1, resource="pods")
            set_pod_state(sim, "p0", phase="Running", ready=False, waiting="ImagePullBackOff")
            await until(sink, lambda: inf.stats.relists["pods"] == 2)
            await until_converged(store, sim, within=5.0)
        assert inf.stats.relist_reasons[("pods", "too-large")] == 1
        assert inf.stats.restarts[("pods", "too-large")] == 1
        assert inf.stats.restarts[("pods", "error")] == 0


async def test_too_large_resource_version_on_a_list_relists(store: Store) -> None:
    paged = dataclasses.replace(FAST, streaming_list=False)
    async with Simulator(bookmark_interval=0.3) as sim:
        for i in range(4):
            sim.store.create("pods", make_pod(f"p{i}"))
        sim.faults.fail_next(1, status=504, verb="list", resource="pods")
        sink = ErrorLog(store.writer)
        async with informing(sim, sink, settings=paged, kinds=("pods",)) as inf:
            await until_converged(store, sim, within=5.0)
        # The refused list was taken again at once, counted as what caused it.
        assert inf.stats.restarts[("pods", "too-large")] == 1
        assert inf.stats.relist_reasons[("pods", "too-large")] == 1
        assert inf.stats.restarts[("pods", "error")] == 0
        assert inf.stats.requests[("pods", "list", "504")] == 1
