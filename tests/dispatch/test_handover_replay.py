"""A new leader sends the webhooks of the handover gap, from its own history, once.

Two agents watch one simulator; only the Lease holder POSTs webhooks. The
leader dies holding the Lease (no release: the longest gap). Status changes
made while the Lease runs out are recorded by the standby, which is not yet
allowed to send; once it leads, it replays them from its history, and the
receiver gets each exactly once. Changes from before the previous leader's
last renewal are not sent again.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from dispatch import CallbackRegistry
from simulator import Simulator
from store.model import Kind, Severity, Transition
from tests.deploy_runtime.conftest import webhook_receiver
from tests.deploy_runtime.test_leader_election import (
    NAMESPACE,
    PODS,
    SETTLED,
    TIMING,
    Replica,
    crash_keys,
    drain_callbacks,
    recover_keys,
    renewed_after,
    replicas_setup,
    start_replica,
)
from tests.watcher.cluster import set_pod_state

pytestmark = pytest.mark.anyio


async def test_the_new_leader_replays_the_handover_gap_once(tmp_path: Path) -> None:
    async with Simulator(tls=True, token="sa-token") as sim, webhook_receiver() as hooks:
        base = replicas_setup(sim, tmp_path, webhook_url=hooks.url)
        async with anyio.create_task_group() as tg:
            first: Replica = await start_replica(tg, base, "replica-a", tmp_path)
            a = first.agent
            assert a.elector is not None
            with anyio.fail_after(20):
                await a.elector.wait_for(True)  # a leads; b will find the Lease held
            second: Replica = await start_replica(tg, base, "replica-b", tmp_path)
            b = second.agent
            assert b.elector is not None
            with anyio.fail_after(20):
                await a.informers.wait_synced()
                await b.informers.wait_synced()

            # Before the handover: a sends, b only records.
            for name in PODS:
                set_pod_state(
                    sim, name, namespace=NAMESPACE, ready=False, waiting="CrashLoopBackOff"
                )
            with anyio.fail_after(20):
                await first.seen.wait_for(crash_keys(PODS))
                await second.seen.wait_for(crash_keys(PODS))
                await drain_callbacks(a)
                await hooks.wait_for(crash_keys(PODS))
            # The replay starts a margin before the last renewal b saw from a: let a
            # renew past that margin, so that what a sent is not the new leader's to send.
            with anyio.fail_after(10):
                await renewed_after(sim, time.time() + SETTLED)

            # a dies holding the Lease; what happens until it expires is the gap.
            a.elector.release_on_exit = False
            await first.kill()
            for name in PODS:
                set_pod_state(sim, name, namespace=NAMESPACE)
            with anyio.fail_after(10):
                await second.seen.wait_for(recover_keys(PODS))
            assert not b.elector.is_leader  # recorded while nobody could send

            with anyio.fail_after(TIMING.takeover_bound + 5):
                await b.elector.wait_for(True)
            with anyio.fail_after(10):
                await hooks.wait_for(recover_keys(PODS))
                await drain_callbacks(b)
            # Each pod's recovery is two transitions (ready, waiting reason), all in the gap.
            assert b.elector.replayed == 2 * len(PODS)
            recoveries = recover_keys(PODS)
            assert {d.replica for d in hooks.deliveries if d.key in recoveries} == {"replica-b"}
            counts = hooks.counts()
            assert len(counts) == 4 * len(PODS)  # crash and recovery, two fields each
            assert set(counts.values()) == {1}, counts
            second.stop.set()


def _transition(i: int) -> Transition:
    return Transition(
        at=float(i),
        kind=Kind.POD,
        namespace="shop",
        name=f"p{i}",
        uid=f"u{i}",
        field="phase",
        old="Pending",
        new="Running",
        severity=Severity.INFO,
        id=i,
    )


async def test_replay_queues_only_what_the_live_subscription_did_not_get() -> None:
    registry = CallbackRegistry()
    got: list[int] = []
    release = anyio.Event()

    async def slow(t: Transition) -> None:
        await release.wait()
        got.append(t.id or 0)

    async with anyio.create_task_group() as tg:
        tg.start_soon(registry.run)
        registry.publish([_transition(1), _transition(2)])  # before the subscription
        await registry.dispatched()
        sub = registry.subscribe(slow, timeout=None)
        registry.publish([_transition(3), _transition(4)])  # live
        await registry.dispatched()
        # History holds 1..4; 3 and 4 are the live subscription's already.
        assert sub.replay([_transition(i) for i in (1, 2, 3, 4)]) == 2
        release.set()
        with anyio.fail_after(5):
            await sub.drained()
        tg.cancel_scope.cancel()
    # Each once; the gap goes ahead of the live ones still queued (3 was in flight).
    assert got == [3, 1, 2, 4]
