"""A fault-matrix rig: simulator + scenario + real informers + real SQLite store.

Shared by the fast tests (tests/reliability/test_fault_matrix.py) and the long
run (benchmarks/reliability_bench.py), so both measure the same thing at
different sizes. The rig changes the cluster only in ways whose every
intermediate state the informers can see (scenario steps while a watch can
replay them, single-event changes while disconnected), so the reference
history of a fault-free store is exact and any lost or duplicated
transition is a real defect, not watch coalescing.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from simulator.scenario import Scenario
from simulator.server import Simulator
from store.service import Store, open_store
from store.settings import StoreSettings
from tests.reliability.compare import (
    ChangeLog,
    Comparison,
    HistoryCheck,
    check_history,
    converge,
    history_after,
    last_history_id,
)
from watcher import Informers, WatchSettings, load_connection

__all__ = ["FAST", "FaultResult", "Rig", "rig"]

# Every fault resolves in well under a second with these.
FAST = WatchSettings(
    list_page_size=20,
    list_request_timeout=5.0,
    watch_timeout_min=30.0,
    watch_timeout_max=40.0,
    inactivity_timeout=0.8,
    connect_timeout=2.0,
    min_watch_duration=0.05,
    backoff_initial=0.02,
    backoff_max=0.2,
    backoff_reset_after=5.0,
    retry_after_max=1.5,
    progress_log_interval=5.0,
    link_sync_wait=2.0,
)


@dataclass
class FaultResult:
    """The figures of one fault: what was compared and what was wrong."""

    fault: str
    objects: int
    mismatches: list[str]
    history: HistoryCheck
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.history.ok


@dataclass
class Rig:
    sim: Simulator
    scenario: Scenario
    store: Store
    informers: Informers
    changes: ChangeLog
    baseline_id: int
    tmp: Path
    settle: float = 20.0

    def restarts(self, reason: str) -> int:
        return sum(n for (_, r), n in self.informers.stats.restarts.items() if r == reason)

    def relists(self) -> int:
        return sum(self.informers.stats.relists.values())

    def list_counts(self) -> dict[str, int]:
        """Completed lists per feed (every kind of the registry, replicasets included)."""
        return dict(self.informers.stats.relists)

    def relisted_all(self, before: dict[str, int]) -> bool:
        """Every feed completed a list since `before` (so no relist is still under way)."""
        now = self.informers.stats.relists
        return all(now[feed] > n for feed, n in before.items())

    async def wait_for(self, condition: Callable[[], bool], *, within: float = 20.0) -> None:
        """Await `condition`, re-checked on each store commit and at least every 20 ms.

        The informers report most faults only through their counters, which
        no event announces; the tick bounds the re-check, it is not a guess
        at how long anything takes.
        """
        with anyio.fail_after(within):
            while not condition():
                committed = anyio.Event()

                def wake(_rows: int, _seconds: float, event: anyio.Event = committed) -> None:
                    event.set()

                unsubscribe = self.store.writer.on_commit(wake)
                try:
                    with anyio.move_on_after(0.02):
                        await committed.wait()
                finally:
                    unsubscribe()

    async def caught_up(self) -> Comparison:
        result = await converge(self.store, self.sim, within=self.settle)
        assert not result.mismatches, result.mismatches[:10]
        return result

    async def steps(self, n: int, *, settle: bool = True) -> None:
        """`n` churn actions, each seen through (all its events reach the store) when `settle`."""
        for _ in range(n):
            self.scenario.step()
            if settle:
                await self.caught_up()

    async def reconnect_all(self) -> None:
        """Drop every connection (an API server restart that keeps its history)."""
        await self.sim.restart(compact=False)

    async def finish(self, fault: str, *, started: float) -> FaultResult:
        """Faults off; the store must converge, and its history match the reference."""
        self.sim.faults.clear()
        result = await converge(self.store, self.sim, within=self.settle)
        recorded = await history_after(self.store, self.baseline_id)
        expected = await self.changes.reference(self.tmp / f"reference-{fault}.db")
        return FaultResult(
            fault=fault,
            objects=result.objects,
            mismatches=result.mismatches,
            history=check_history(expected, recorded),
            seconds=anyio.current_time() - started,
        )


@contextlib.asynccontextmanager
async def rig(
    tmp: Path,
    *,
    nodes: int = 4,
    deployments: int = 5,
    pods_per_deployment: int = 2,
    seed: int = 5,
    settings: WatchSettings = FAST,
    streaming_list: bool = True,
) -> AsyncIterator[Rig]:
    """A synced rig; the change log and history baseline start once the store equals the sim."""
    settings = dataclasses.replace(settings, streaming_list=streaming_list)
    async with (
        Simulator(bookmark_interval=0.3, window=100_000) as sim,
        open_store(tmp / "state.db", settings=StoreSettings(batch_interval_s=0.005)) as store,
    ):
        scenario = Scenario(
            sim.store,
            seed=seed,
            nodes=nodes,
            deployments=deployments,
            pods_per_deployment=pods_per_deployment,
            namespaces=2,
            churn=0.0,
            events=False,
        )
        scenario.populate()
        conn = await load_connection(server=sim.url)
        informers = Informers(conn, store.writer, settings=settings)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(informers.run)
                with anyio.fail_after(20):
                    await informers.wait_synced()
                first = await converge(store, sim, within=10.0)
                assert not first.mismatches, first.mismatches[:10]
                changes = ChangeLog(sim)
                try:
                    yield Rig(
                        sim=sim,
                        scenario=scenario,
                        store=store,
                        informers=informers,
                        changes=changes,
                        baseline_id=await last_history_id(store),
                        tmp=tmp,
                    )
                finally:
                    changes.close()
                    scenario.close()
                tg.cancel_scope.cancel()
        finally:
            await conn.close()
