"""Truth under faults: every answer sampled during a fault is right, or says `stale: true`.

An agent (informers, a real SQLite store, the MCP server) runs in-process on
the simulator over loopback; a sampler asks it, every `TICK`, through the
official MCP SDK client (in memory, the real tool path: argument checks,
the store's guarded query pool, serialization), for the `query` tool's
answer listing every pod, deployment and node as (kind, namespace, name,
uid, resourceVersion), with that answer's `freshness`. uids and versions
are in the key because a history reset keeps names and changes uids.

Meanwhile `TruthLog` records the simulator's object set after every change
(the test's own, its controllers', the reset's), with the time.

**The rule.** A sampled answer, asked at `a` and answered at `b`, passes if

- its freshness says `stale: true`, or
- its objects of each kind equal, key for key, the simulator's set of that
  kind at some moment of `[a - BOUND, b]` (kind by kind: each kind comes
  through its own watch, so the store's pods may be a few events ahead of
  its nodes and the whole equal no single moment), where
  `BOUND = limit + GRACE`: `limit` is the silence limit the agent learned
  (`silence_factor` x the bookmark interval it measured, at least
  `silence_floor`; ~0.6 s here with bookmarks every 0.2 s), `GRACE`
  (0.35 s) covers one write batch (5 ms) and the event loop's turns on a
  loaded machine.

Why a bound at all: a stream cannot be known silent before it has been
silent for longer than its cadence allows, so for up to `limit` after a
stall begins the store honestly holds the truth of that moment and calls
it fresh. Anything older than the bound served as fresh is a lie.

The faults, each while the cluster changes: a stall of every watch (the
inactivity timeout is 30 s, so only the learned cadence can tell); an API
server restart, down for 2 s, changes made all the while, history
compacted (every watch relists); a history-reset restart (lower resourceVersions, new uids, the
same names) both as a real API server answers it (504 "Too large resource
version") and served at the lower versions without a word. After each
fault stops, the store must equal the simulator object by object (every
status column) within 5 s, and a fresh answer must equal the truth.

Checked to fail: with `compute_freshness` never stale, and with errors
left out of freshness, every fault test fails (16 to 44 answers of 60 to
90 wrong and fresh); with the reflector's silence detection off, the stall
test fails (42 of 71). `test_rows_read_before_a_relist_committed_are_not_called_fresh`
pins the one gap the sampling found and `mcpserver.surface.service` now closes: a
read that straddles a relist's commit. The xfail test pins one it found and
does not fix: a reset history that overtakes the agent's resourceVersion
while it is away is resumed as if it were the old one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from mcp import Client

from kinds import KINDS as KINDS_SPECS
from kinds.meta import KubeObject
from mcpserver.metrics import AgentMetrics
from mcpserver.surface.server import build_mcp_server
from mcpserver.surface.service import ClusterAnswers
from simulator.scenario import Scenario
from simulator.server import Simulator
from store.model import Delta, Kind, Row
from store.service import open_store
from store.settings import StoreSettings
from tests.reliability.compare import ALL_KINDS, converge
from tests.reliability.harness import FAST
from tests.reliability.truth_log import KINDS, Key, Sample, TruthLog, judge
from tests.watcher.cluster import make_pod
from watcher import Informers, load_connection

pytestmark = pytest.mark.anyio

BOOKMARKS = 0.2  # the simulator's bookmark interval
# Only the learned cadence can notice a stall within the test's bounds.
SETTINGS = dataclasses.replace(FAST, inactivity_timeout=30.0, silence_factor=3.0, silence_floor=0.1)
GRACE = 0.35  # one write batch and the event loop's turns, on a loaded machine
TICK = 0.02  # between samples
PACE = 0.08  # between the test's changes to the cluster
DOWN_S = 2.0  # an API server restart: down this long, well beyond the bound
STALL_CHANGES = 25  # x PACE: the stall lasts 2 s or more, twice the bound
CONVERGE_S = 5.0  # after the fault stops
FEEDS = ("pods", "deployments", "nodes", "replicasets")

EVERY_OBJECT = (
    "SELECT 'pod', namespace, name, uid, resource_version FROM pods "
    "UNION ALL SELECT 'deployment', namespace, name, uid, resource_version FROM deployments "
    "UNION ALL SELECT 'node', '', name, uid, resource_version FROM nodes"
)


@dataclass
class Live:
    sim: Simulator
    scenario: Scenario
    informers: Informers
    store: Any
    client: Client
    truth: TruthLog

    def limit(self) -> float:
        """The silence limit the agent learned (the largest over its streams)."""
        intervals = [r.bookmark_interval for r in self.informers.reflectors]
        assert all(i is not None for i in intervals), intervals
        return max(
            max(SETTINGS.silence_floor, SETTINGS.silence_factor * i)
            for i in intervals
            if i is not None
        )

    def restarts(self, reason: str) -> dict[str, int]:
        return {feed: self.informers.stats.restarts[(feed, reason)] for feed in FEEDS}

    async def wait_for(self, condition: Callable[[], bool], *, within: float = 10.0) -> None:
        """Await `condition`, re-checked on each store commit and at least every tick.

        The informers' counters and the simulator's state announce nothing;
        the tick bounds the re-check, it is not a guess at how long anything takes.
        """
        with anyio.fail_after(within):
            while not condition():
                committed = anyio.Event()
                unsubscribe = self.store.writer.on_commit(lambda _n, _s, e=committed: e.set())
                try:
                    with anyio.move_on_after(TICK):
                        await committed.wait()
                finally:
                    unsubscribe()

    async def changes(self, n: int) -> None:
        """`n` churn actions, paced so that samples fall between them."""
        for _ in range(n):
            self.scenario.step()
            await anyio.sleep(PACE)

    async def changes_while_down(self, *, forget: bool = False) -> None:
        """Churn actions, paced, for as long as the API server is down.

        `forget`: compact the history after each, so the restarted server
        remembers none of them and every watch must relist.
        """
        while not self.sim.running:
            self.scenario.step()
            if forget:
                self.sim.store.compact()
            await anyio.sleep(PACE)

    async def ask(self) -> Sample:
        asked = time.monotonic()
        result = await self.client.call_tool(
            "query", {"sql": EVERY_OBJECT, "max_rows": 1000, "timeout_s": 5.0}
        )
        answered = time.monotonic()
        assert not result.is_error, result
        data = result.structured_content
        assert data is not None
        assert not data["truncated"]
        keys: dict[str, set[Key]] = {kind: set() for kind in KINDS.values()}
        for kind, ns, name, uid, rv in data["rows"]:
            keys[kind].add((ns or "", name, uid, str(rv)))
        fresh = data["freshness"]
        return Sample(
            asked,
            answered,
            fresh["stale"],
            {kind: frozenset(k) for kind, k in keys.items()},
            fresh["reasons"],
        )


@contextlib.asynccontextmanager
async def live_agent(tmp: Path, *, future_rv_wait: float = 3.0) -> AsyncIterator[Live]:
    """The simulator, and an agent on it wired as `mcpserver.agent` wires one, synced."""
    async with (
        Simulator(
            bookmark_interval=BOOKMARKS, window=100_000, future_rv_wait=future_rv_wait
        ) as sim,
        open_store(tmp / "state.db", settings=StoreSettings(batch_interval_s=0.005)) as store,
    ):
        scenario = Scenario(
            sim.store,
            seed=11,
            nodes=3,
            deployments=4,
            pods_per_deployment=2,
            namespaces=2,
            churn=0.0,
            events=False,
        )
        scenario.populate()
        truth = TruthLog(sim)
        conn = await load_connection(server=sim.url)
        informers = Informers(conn, store.writer, settings=SETTINGS)
        store.writer.on_reset(informers.relist)
        store.writer.on_history_changed(informers.history_changed)
        answers = ClusterAnswers(store, watched=ALL_KINDS)
        mcp, _ = build_mcp_server(answers=answers, metrics=AgentMetrics())
        try:
            async with Client(mcp) as client, anyio.create_task_group() as tg:
                tg.start_soon(informers.run)
                with anyio.fail_after(20):
                    await informers.wait_synced()
                live = Live(sim, scenario, informers, store, client, truth)
                await converged(live)
                # Every stream knows the server's cadence: a stall can be told from quiet.
                await live.wait_for(lambda: all(r.bookmark_interval for r in informers.reflectors))
                yield live
                tg.cancel_scope.cancel()
        finally:
            truth.close()
            scenario.close()
            await conn.close()


async def converged(live: Live) -> None:
    """The store equals the simulator object by object within CONVERGE_S."""
    result = await converge(live.store, live.sim, within=CONVERGE_S)
    assert not result.mismatches, result.mismatches[:10]


@dataclass
class Figures:
    samples: int
    stale: int
    equal: int
    max_lag: float  # the oldest truth a fresh answer showed, seconds
    bound: float


FIGURES: dict[str, Figures] = {}


async def sampled(live: Live, fault: Callable[[], Awaitable[None]], *, name: str) -> None:
    """Run `fault` (which ends when the fault has stopped) while sampling; judge every sample."""
    bound = live.limit() + GRACE
    samples: list[Sample] = []
    done = anyio.Event()

    async def sampler() -> None:
        while not done.is_set():
            samples.append(await live.ask())
            with anyio.move_on_after(TICK):
                await done.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(sampler)
        await fault()
        # The fault stopped: the store equals the simulator object by object.
        after = await converge(live.store, live.sim, within=CONVERGE_S)
        if not after.mismatches:
            # And an answer says so: fresh, and equal to the truth of now.
            with anyio.fail_after(CONVERGE_S):
                while True:
                    last = await live.ask()
                    samples.append(last)
                    if not last.stale and last.keys == live.truth.now():
                        break
                    await anyio.sleep(TICK)
        done.set()

    judged = [(s, judge(s, live.truth, bound=bound)) for s in samples]
    wrong = [j.detail for _, j in judged if j.verdict == "wrong"]
    stale = sum(1 for _, j in judged if j.verdict == "stale")
    equal = [j for _, j in judged if j.verdict == "equal"]
    FIGURES[name] = Figures(
        samples=len(samples),
        stale=stale,
        equal=len(equal),
        max_lag=max((j.lag for j in equal), default=0.0),
        bound=bound,
    )
    print(f"\n{name}: {FIGURES[name]}")
    assert not wrong, f"{len(wrong)} of {len(samples)} answers wrong and fresh: {wrong[:3]}"
    assert stale, "no answer during the fault said stale: the fault was not met"
    assert not after.mismatches, after.mismatches[:10]


async def test_answers_during_a_stall_are_true_or_stale(tmp_path: Path) -> None:
    async with live_agent(tmp_path) as live:

        async def stall() -> None:
            live.sim.faults.stall_watches()
            # Changes no stream carries, for well beyond the silence limit: the
            # streams are declared silent and reconnect to streams as silent.
            await live.changes(STALL_CHANGES)
            live.sim.faults.release_stalls()

        await sampled(live, stall, name="stall")
        assert all(live.restarts("silent").values()), live.restarts("silent")
        assert not any(live.restarts("stalled").values())  # the cadence did it, not the timeout


async def test_answers_during_a_restart_are_true_or_stale(tmp_path: Path) -> None:
    async with live_agent(tmp_path) as live:

        async def restart() -> None:
            before = dict(live.informers.stats.relists)
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: live.sim.restart(compact=True, down_for=DOWN_S))
                await live.wait_for(lambda: not live.sim.running, within=5)
                await live.changes_while_down(forget=True)
            await live.wait_for(
                lambda: all(live.informers.stats.relists[f] > n for f, n in before.items())
            )
            await live.changes(3)

        await sampled(live, restart, name="restart")


@pytest.mark.parametrize("refused", [True, False], ids=["504-too-large", "served-lower"])
async def test_answers_during_a_history_reset_are_true_or_stale(
    tmp_path: Path, refused: bool
) -> None:
    async with reset_agent(tmp_path) as live:

        async def reset() -> None:
            before = dict(live.informers.stats.relists)
            if not refused:
                live.sim.faults.serve_future_resource_versions()
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: live.sim.restart(history_reset=True, down_for=DOWN_S))
                await live.wait_for(lambda: not live.sim.running, within=5)
                # A few changes on the new history while it is down: it stays below
                # the versions the agent holds (see the xfail test below for more).
                await live.changes(2)
            await live.wait_for(
                lambda: all(live.informers.stats.relists[f] > n for f, n in before.items())
            )
            await live.changes(3)

        await sampled(live, reset, name=f"history reset ({'504' if refused else 'served lower'})")
        reason = "too-large" if refused else "history-reset"
        relisted = live.informers.stats.relist_reasons
        assert all(relisted[(feed, reason)] >= 1 for feed in FEEDS), dict(relisted)


async def test_a_reset_history_that_overtook_the_agent_is_noticed(tmp_path: Path) -> None:
    async with reset_agent(tmp_path) as live:
        held = max(int(r.resource_version or 0) for r in live.informers.reflectors)

        async def reset() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: live.sim.restart(history_reset=True, down_for=DOWN_S))
                # Reset (it went lower), and down for DOWN_S: `running` turns False
                # before the old history is gone, so steps taken then would be old ones.
                await live.wait_for(lambda: live.sim.store.resource_version < held, within=5)
                assert not live.sim.running
                # The new history passes the version the agent holds, at once
                # (no await: no reflector reconnects in between).
                while live.sim.store.resource_version <= held + 5:
                    live.scenario.step()

        await sampled(live, reset, name="history reset, overtaken")
        # Seen in the events of one kind, the reset is the whole server's: every feed relists.
        relisted = live.informers.stats.relist_reasons
        await live.wait_for(lambda: all(relisted[(f, "history-reset")] >= 1 for f in FEEDS))
        assert not any(relisted[(feed, "too-large")] for feed in FEEDS), dict(relisted)


@contextlib.asynccontextmanager
async def reset_agent(tmp: Path) -> AsyncIterator[Live]:
    """An agent whose every watch holds the server's version, on a history that can go lower."""
    # 0.3 s before the 504 (3 s on an API server): below the silence limit.
    async with live_agent(tmp, future_rv_wait=0.3) as live:
        for _ in range(6):  # a history longer than the object count, so a reset can go lower
            live.scenario.step()
        await converged(live)
        now = str(live.sim.store.resource_version)
        # Every watch holds the server's version, so each meets the reset itself.
        await live.wait_for(
            lambda: all(r.resource_version == now for r in live.informers.reflectors)
        )
        yield live


class ReadThenCommit:
    """The store's reader, with `commit` landing after a pod list's rows were read.

    The sampled race made certain: a relist's commit (new rows, error cleared)
    between an answer's read and its freshness.
    """

    def __init__(self, reader: Any, commit: Callable[[], Awaitable[None]]) -> None:
        self._reader = reader
        self._commit = commit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    async def list_pods(self, **kwargs: Any) -> Any:
        page = await self._reader.list_pods(**kwargs)
        await self._commit()
        return page


def _pod(name: str) -> Row:
    obj = make_pod(name)
    obj["metadata"].update(uid=f"uid-{name}", resourceVersion="1")
    return KINDS_SPECS["pods"].normalize(
        msgspec.json.decode(msgspec.json.encode(obj), type=KubeObject)
    )


async def test_rows_read_before_a_relist_committed_are_not_called_fresh(tmp_path: Path) -> None:
    async with open_store(tmp_path / "state.db") as store:
        await store.writer.apply([Delta(Kind.POD, "ADDED", _pod("before-reset"))])
        for kind in ALL_KINDS:
            await store.writer.sync(kind, synced=True, listed=True)
        await store.writer.sync(Kind.POD, error="the API server's history was reset; relisting")
        await store.writer.flush()

        async def relist_commits() -> None:
            await store.writer.replace(Kind.POD, [_pod("after-reset")], "9")
            await store.writer.sync(Kind.POD, synced=True, listed=True)
            await store.writer.flush()

        answers = ClusterAnswers(store, watched=ALL_KINDS)
        answers.reader = ReadThenCommit(store.reader, relist_commits)
        page = await answers.list_pods()
        assert [p.name for p in page.items] == ["before-reset"]
        assert page.freshness.stale, "rows of the old history called fresh"
        assert page.freshness.reasons[0].startswith("Pod: watch failing")
        # The next answer reads the relisted rows, and is fresh.
        answers.reader = store.reader
        page = await answers.list_pods()
        assert [p.name for p in page.items] == ["after-reset"]
        assert not page.freshness.stale
