"""End to end: simulator -> informers -> SQLite store, under churn and every fault."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from kinds import pod as pods
from kinds.meta import KubeObject
from simulator.scenario import Scenario
from simulator.server import Simulator
from store.model import Delta, Kind
from store.service import Store, open_store
from tests.watcher.cluster import differences, expected_rows, make_pod, set_pod_state
from tests.watcher.conftest import FAST, NotifyingSink, informing, store_rows
from watcher import Informers, WatchSettings

pytestmark = pytest.mark.anyio

KINDS = (Kind.POD, Kind.DEPLOYMENT, Kind.NODE)


async def store_differences(store: Store, sim: Simulator) -> list[str]:
    await store.writer.flush()
    out: list[str] = []
    for kind in KINDS:
        out += differences(expected_rows(sim, kind), await store_rows(store.reader, kind), kind)
    return out


async def until(sink: NotifyingSink, condition: Callable[[], bool], *, within: float = 5.0) -> None:
    with anyio.fail_after(within):
        while not condition():
            await sink.changed()


async def converge(store: Store, sim: Simulator, sink: NotifyingSink, *, within: float) -> None:
    """Wait until the store equals the simulator, object by object, on every status column."""
    diff: list[str] = []
    try:
        with anyio.fail_after(within):
            while True:
                mark = sink.marker()
                if not (diff := await store_differences(store, sim)):
                    return
                await mark.wait()
    except TimeoutError:
        pytest.fail(f"store did not converge within {within} s: {diff[:10]}")


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming-list", "paged-list"])
async def test_store_converges_under_churn_and_faults(store: Store, streaming: bool) -> None:
    settings = WatchSettings(
        **{
            **FAST.__dict__,
            "streaming_list": streaming,
            "list_page_size": 20,
            "retry_after_max": 0.5,
        }
    )
    async with Simulator(bookmark_interval=0.3, window=5000) as sim:
        scenario = Scenario(
            sim.store,
            seed=11,
            nodes=6,
            deployments=12,
            pods_per_deployment=3,
            namespaces=3,
            churn=60.0,
            events=False,
        )
        scenario.populate()
        sink = NotifyingSink(store.writer)
        async with informing(sim, sink, settings=settings) as inf:
            assert not await store_differences(store, sim)
            async with anyio.create_task_group() as churn:
                churn.start_soon(scenario.run)
                await inject_every_fault(sim, sink, inf, paged=not streaming)
                churn.cancel_scope.cancel()
            # Faults off, churn stopped: the running informers must bring the
            # store to the simulator's state within 5 s.
            sim.faults.clear()
            await converge(store, sim, sink, within=5.0)
        assert scenario.steps > 20


async def inject_every_fault(
    sim: Simulator, sink: NotifyingSink, inf: Informers, *, paged: bool
) -> None:
    """Each fault in turn, each awaited until the informers have met it."""

    def total(reason: str) -> int:
        return sum(n for (_, r), n in inf.stats.restarts.items() if r == reason)

    # Streams closed every few events.
    sim.faults.close_watches_after(5, streams=6)
    await until(sink, lambda: total("closed") >= 4)
    # 410 as a watch ERROR event.
    sim.faults.fail_next(2, status=410, verb="watch")
    sim.faults.close_watches_after(1, streams=2)
    await until(sink, lambda: total("gone") >= 2)
    # 429 with Retry-After, then 500s.
    sim.faults.fail_next(2, status=429, verb="watch", retry_after=1)
    sim.faults.fail_next(2, status=500, verb="watch")
    sim.faults.close_watches_after(1, streams=4)
    await until(sink, lambda: total("throttled") >= 2 and total("error") >= 2)
    # A malformed line, a truncated event.
    sim.faults.send_malformed_line(1)
    sim.faults.truncate_next_event(1)
    await until(sink, lambda: total("malformed") >= 1)
    # A stalled stream.
    sim.faults.stall_watches()
    await until(sink, lambda: total("stalled") >= 1)
    sim.faults.release_stalls()
    if paged:
        # 410 on a continue token: compactions faster than delayed pages.
        sim.faults.delay(0.05, count=6, verb="list", resource="pods")
        sim.faults.fail_next(1, status=410, verb="watch", resource="pods")
        sim.faults.close_watches_after(1, streams=1, resource="pods")
        with anyio.fail_after(5):
            while total("continue-gone") < 1:
                sim.store.compact()
                await anyio.sleep(0.01)  # the pace of compaction, not a wait
    # An API server restart that compacts its history.
    relists_before = sum(inf.stats.relists.values())
    await sim.restart(compact=True)
    await until(sink, lambda: sum(inf.stats.relists.values()) >= relists_before + 2)


async def test_converges_after_faults_without_restarting_informers(store: Store) -> None:
    async with Simulator(bookmark_interval=0.3) as sim:
        scenario = Scenario(
            sim.store,
            seed=3,
            nodes=4,
            deployments=6,
            pods_per_deployment=2,
            namespaces=2,
            churn=80.0,
            events=False,
        )
        scenario.populate()
        sink = NotifyingSink(store.writer)
        async with informing(sim, sink) as inf:
            async with anyio.create_task_group() as tg:
                tg.start_soon(scenario.run)
                sim.faults.close_watches_after(3, streams=10)
                sim.faults.send_malformed_line(2)
                sim.faults.fail_next(1, status=410, verb="watch")
                with anyio.fail_after(5):
                    while scenario.steps < 40:
                        await sink.changed()
                tg.cancel_scope.cancel()
            sim.faults.clear()
            await converge(store, sim, sink, within=5.0)
            assert inf.synced


def _transitions_key(ts: list[Any]) -> list[tuple[str, str, str | None, str | None]]:
    return [(t.name, t.field, t.old, t.new) for t in ts]


async def test_exactly_once_transitions_across_a_forced_relist(
    store: Store, tmp_path: Path
) -> None:
    async with Simulator(bookmark_interval=0.3) as sim:
        sim.store.create("pods", make_pod("web"))
        sim.store.create("pods", make_pod("gone"))
        sink = NotifyingSink(store.writer)
        versions: list[Delta] = []

        def record(type_: str, name: str) -> None:
            entry = sim.store.get_entry("pods", "default", name)
            assert entry is not None
            row = pods.normalize(msgspec.json.decode(entry.raw, type=KubeObject))
            versions.append(Delta(Kind.POD, type_, row))  # type: ignore[arg-type]

        record("ADDED", "web")
        record("ADDED", "gone")

        async def committed(name: str, rv: str) -> None:
            with anyio.fail_after(5):
                while True:
                    mark = sink.marker()
                    await store.writer.flush()
                    row = await store.reader.get_pod("default", name)
                    if row is not None and row.resource_version == rv:
                        return
                    await mark.wait()

        async with informing(sim, sink, kinds=("pods",)) as inf:
            steps = [
                {"phase": "Running", "ready": True},
                {"phase": "Running", "ready": False, "waiting": "CrashLoopBackOff", "restarts": 1},
                {"phase": "Running", "ready": True, "restarts": 1},
            ]
            for state in steps:
                set_pod_state(sim, "web", **state)  # type: ignore[arg-type]
                record("MODIFIED", "web")
                await committed("web", versions[-1].row.resource_version)
            # Forced relist with nothing changed: must emit nothing.
            sim.faults.fail_next(1, status=410, verb="watch", resource="pods")
            sim.faults.close_watches_after(1, streams=1, resource="pods")
            sim.store.create("pods", make_pod("trigger"))
            record("ADDED", "trigger")
            await until(sink, lambda: inf.stats.relists["pods"] == 2)
            # A deletion missed while disconnected, seen only through the relist.
            sim.faults.stall_watches(resource="pods")
            deleted = versions[1].row
            sim.store.delete("pods", "default", "gone")
            versions.append(Delta(Kind.POD, "DELETED", deleted))
            sim.store.compact()
            await until(sink, lambda: inf.stats.restarts[("pods", "stalled")] >= 1)
            sim.faults.release_stalls()
            await until(sink, lambda: inf.stats.relists["pods"] >= 3)
            set_pod_state(
                sim, "web", phase="Running", ready=False, waiting="ImagePullBackOff", restarts=2
            )
            record("MODIFIED", "web")
            await committed("web", versions[-1].row.resource_version)
        await store.writer.flush()
        got = await store.reader.history(kind=Kind.POD, limit=1000)

    # The reference: the same versions applied once each, in order, to a fresh store.
    async with open_store(tmp_path / "reference.db") as ref:
        expected: list[Any] = []
        for delta in versions:
            expected += await ref.writer.apply([delta])
    got_keys = _transitions_key(list(reversed(got)))
    assert got_keys == _transitions_key(expected)
    assert any(f == "deleted" for (n, f, _, _) in got_keys if n == "gone")
    assert len(got_keys) >= 5
