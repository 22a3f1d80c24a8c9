"""The fault kinds of the matrix, each a script over a synced `Rig`.

One function per fault: it arms the fault, changes the cluster so the fault
is met, awaits proof that the informers met it (their restart and relist
counters), and changes the cluster again. The caller then runs
`Rig.finish` for the comparison. The fast tests run them at a small scale;
benchmarks/reliability_bench.py at a larger one (60 s unreachable, 2 s per
request), from the same code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from tests.reliability.harness import FAST, FaultResult, Rig, rig

__all__ = ["FAULTS", "RIG_OPTIONS", "Scale", "run_fault"]


@dataclass(frozen=True)
class Scale:
    """How hard each fault pushes."""

    steps: int = 2  # churn actions before and after each fault
    unreachable_s: float = 3.0  # API server down this long
    slow_s: float = 0.4  # every request held this long
    nodes: int = 4
    deployments: int = 5
    pods_per_deployment: int = 2
    settle_s: float = 20.0


async def closed_mid_event(r: Rig, s: Scale) -> None:
    await r.steps(s.steps)
    r.sim.faults.close_watches_after(2, streams=6)
    await r.steps(3 * s.steps, settle=False)
    await r.wait_for(lambda: r.restarts("closed") >= 2)
    await r.steps(s.steps)


async def stalled(r: Rig, s: Scale) -> None:
    r.sim.faults.stall_watches()
    await r.steps(s.steps + 1, settle=False)  # changes the stalled streams do not carry
    await r.wait_for(lambda: r.restarts("stalled") >= 1)
    r.sim.faults.release_stalls()
    await r.steps(s.steps)


def _gone_once_per_feed(r: Rig, feeds: dict[str, int]) -> None:
    """A 410 on the next watch of each feed: one per feed, so a feed that reconnects
    first cannot take another's and leave that one watching on."""
    for feed in feeds:
        r.sim.faults.fail_next(1, status=410, verb="watch", resource=feed)


async def gone_on_watch(r: Rig, s: Scale) -> None:
    await r.steps(s.steps)
    before = r.list_counts()
    _gone_once_per_feed(r, before)
    await r.reconnect_all()
    # Every feed met its 410 as a watch ERROR event and listed again.
    await r.wait_for(lambda: r.relisted_all(before))
    assert r.restarts("gone") >= len(before)
    await r.steps(s.steps)


async def gone_on_continue(r: Rig, s: Scale) -> None:
    await r.steps(s.steps)
    # A paged relist of pods whose pages come slowly, while the server
    # compacts its history: the continue token expires between two pages.
    pod_lists = r.informers.stats.relists["pods"]
    r.sim.faults.delay(0.05, count=8, verb="list", resource="pods")
    r.sim.faults.fail_next(1, status=410, verb="watch", resource="pods")
    await r.reconnect_all()
    with anyio.fail_after(10):
        n = 0
        while r.restarts("continue-gone") < 1:
            # A change no informer watches moves the resourceVersion on;
            # compaction then drops everything older.
            n += 1
            r.sim.store.create("namespaces", {"metadata": {"name": f"tick-{n}"}})
            r.sim.store.compact()
            await anyio.sleep(0.01)  # the pace of compaction, not a wait for a result
    # The restarted list of pods completed (the other kinds relist too:
    # their resourceVersions were compacted away).
    await r.wait_for(lambda: r.informers.stats.relists["pods"] > pod_lists)
    await r.steps(s.steps)


async def throttled(r: Rig, s: Scale) -> None:
    r.sim.faults.fail_next(3, status=429, verb="watch", retry_after=1)
    await r.reconnect_all()
    await r.steps(s.steps + 1, settle=False)
    await r.wait_for(lambda: r.restarts("throttled") >= 1)
    await r.steps(s.steps)


async def server_errors(r: Rig, s: Scale) -> None:
    r.sim.faults.fail_next(4, status=500, verb="watch")
    r.sim.faults.fail_next(4, status=503, verb="watch", retry_after=1)
    await r.reconnect_all()
    await r.steps(s.steps + 1, settle=False)
    await r.wait_for(lambda: not r.sim.faults.armed)
    await r.steps(s.steps)
    assert r.restarts("error") + r.restarts("throttled") >= 4


async def list_errors(r: Rig, s: Scale) -> None:
    """429, 500 and 503 on the pages of a relist (the watch-side ones are above)."""
    await r.steps(s.steps)
    before = r.list_counts()
    _gone_once_per_feed(r, before)
    r.sim.faults.fail_next(1, status=429, verb="list", retry_after=1)
    r.sim.faults.fail_next(2, status=500, verb="list")
    r.sim.faults.fail_next(2, status=503, verb="list", retry_after=1)
    await r.reconnect_all()
    await r.wait_for(lambda: r.relisted_all(before) and not r.sim.faults.armed, within=20)
    await r.steps(s.steps)


async def malformed_line(r: Rig, s: Scale) -> None:
    r.sim.faults.send_malformed_line(2)
    await r.steps(s.steps + 1, settle=False)
    await r.wait_for(lambda: r.restarts("malformed") >= 1)
    await r.steps(s.steps)


async def truncated_chunk(r: Rig, s: Scale) -> None:
    r.sim.faults.truncate_next_event(2)
    await r.steps(s.steps + 1, settle=False)
    await r.wait_for(lambda: not r.sim.faults.armed)
    await r.steps(s.steps)


async def _delete_one_pod(r: Rig) -> None:
    """One single-event change (a pod deleted, no controller reacts until the next step)."""
    meta = r.sim.store.list("pods")[0]["metadata"]
    r.sim.store.delete("pods", meta["namespace"], meta["name"])


async def restart_compacted(r: Rig, s: Scale) -> None:
    await r.steps(s.steps)
    before = r.list_counts()
    # Down, history compacted, a deletion while down: only a relist can show it.
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: r.sim.restart(compact=True, down_for=0.3))
        await r.wait_for(lambda: not r.sim.running, within=5)
        await _delete_one_pod(r)
        r.sim.store.compact()  # the restarted server remembers nothing before the deletion
    await r.wait_for(lambda: r.relisted_all(before))
    await r.steps(s.steps)


async def _every_watch_current(r: Rig) -> None:
    """Wait until every watch holds the server's version (bookmarks bring the quiet kinds)."""
    now = str(r.sim.store.resource_version)
    await r.wait_for(lambda: all(x.resource_version == now for x in r.informers.reflectors))


async def restart_history_reset(r: Rig, s: Scale) -> None:
    """A restored or replaced control plane: lower resourceVersion, same names, new uids.

    This one serves the old resourceVersion from its lower state without a
    word (a proxy, an old server), so only the versions going backwards
    tell; the 504 a real API server answers is `too_large_on_watch`.
    """
    await r.steps(s.steps)
    await _every_watch_current(r)  # so that every feed meets the reset itself
    before = r.list_counts()
    r.sim.faults.serve_future_resource_versions()
    await r.sim.restart(history_reset=True)
    await r.wait_for(lambda: r.relisted_all(before))
    reasons = r.informers.stats.relist_reasons
    assert all(reasons[(feed, "history-reset")] >= 1 for feed in before), dict(reasons)
    await r.steps(s.steps)


async def too_large_on_watch(r: Rig, s: Scale) -> None:
    """504 "Too large resource version" on every feed's watch: each relists."""
    await r.steps(s.steps)
    before = r.list_counts()
    # One per resource: a feed that reconnects early and relists must not take another's.
    for feed in before:
        r.sim.faults.fail_next(1, status=504, verb="watch", resource=feed)
    await r.reconnect_all()
    await r.wait_for(lambda: r.relisted_all(before))
    assert r.restarts("too-large") >= len(before)
    await r.steps(s.steps)


async def unreachable(r: Rig, s: Scale) -> None:
    await r.steps(s.steps)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: r.sim.restart(compact=False, down_for=s.unreachable_s))
        await r.wait_for(lambda: not r.sim.running, within=5)
        await _delete_one_pod(r)
    await r.steps(s.steps)


async def slow_responses(r: Rig, s: Scale) -> None:
    r.sim.faults.delay(s.slow_s, verb="watch")
    r.sim.faults.delay(s.slow_s, verb="list")
    await r.reconnect_all()
    await r.steps(2 * s.steps)


FAULTS: dict[str, Callable[[Rig, Scale], Awaitable[None]]] = {
    "watch closed mid-event": closed_mid_event,
    "stalled stream": stalled,
    "410 on watch": gone_on_watch,
    "410 on continue token": gone_on_continue,
    "429 + Retry-After": throttled,
    "500/503 bursts": server_errors,
    "429/500/503 on list pages": list_errors,
    "malformed JSON line": malformed_line,
    "truncated chunk": truncated_chunk,
    "restart, compacted history": restart_compacted,
    "restart, history reset": restart_history_reset,
    "504 too large resourceVersion": too_large_on_watch,
    "API unreachable": unreachable,
    "slow responses": slow_responses,
}
# A continue token exists only in a paged list of more than one page.
RIG_OPTIONS: dict[str, dict[str, Any]] = {
    "410 on continue token": {"streaming_list": False, "pods_per_deployment_min": 6},
    "429/500/503 on list pages": {"streaming_list": False},
}


async def run_fault(tmp: Path, name: str, scale: Scale) -> FaultResult:
    """Run one fault on a fresh rig and return its figures (the caller asserts or tabulates)."""
    options = dict(RIG_OPTIONS.get(name, {}))
    if name == "slow responses":
        # A client must not call a server that answers in 2 s dead: its read
        # timeouts sit well above the delay (the defaults are 60 s and 150 s).
        patience = max(FAST.inactivity_timeout, 2.5 * scale.slow_s)
        options["settings"] = dataclasses.replace(
            FAST,
            inactivity_timeout=patience,
            list_request_timeout=max(FAST.list_request_timeout, patience),
        )
    per_deployment = max(scale.pods_per_deployment, options.pop("pods_per_deployment_min", 0))
    async with rig(
        tmp,
        nodes=scale.nodes,
        deployments=scale.deployments,
        pods_per_deployment=per_deployment,
        **options,
    ) as r:
        r.settle = scale.settle_s
        started = anyio.current_time()
        await FAULTS[name](r, scale)
        return await r.finish(name.replace("/", "-").replace(" ", "-"), started=started)
