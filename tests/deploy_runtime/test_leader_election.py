"""Two replicas on one cluster: webhooks fire once, from the Lease holder; a successor takes over.

Both agents watch the same simulator and compute the same transitions (an
in-process sink on each shows it), but only the replica holding the Lease
POSTs them to the one real receiver. The leader is then stopped without
releasing the Lease, as a killed pod would leave it (a graceful stop releases
it: tests/watcher/test_leader_release.py): the other replica must
wait for the lease to expire (never sooner), take over within the bound the
protocol gives, and deliver what follows. Lease timings are short (4 s lease,
3 s renew deadline, 1 s retry) so the takeover costs seconds.

The successor also replays the handover gap from its history, starting a
margin before the last renewal it saw (tests/watcher/test_handover_replay.py):
what the dead leader sent after that point may come twice (at-least-once).
So the leader here dies only after a renewal that follows the phase-1
changes by more than that margin, and every delivery is then exactly once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from mcpserver.agent import Agent, running_agent
from mcpserver.config import Settings
from simulator import Simulator
from tests.deploy_runtime.conftest import Seen, TransitionKey, webhook_receiver
from tests.watcher.cluster import ensure_namespace, make_pod, set_pod_state
from watcher.leader import LeaseTiming

NAMESPACE = "shop"
LEASE_NAMESPACE = "kube-watchcache"
TIMING = LeaseTiming(lease_duration=4, renew_deadline=3, retry_period=1)
PODS = ("web-0", "web-1", "web-2")
# How far past the last phase-1 change the leader's final renewal must be stamped: the
# replay margin (0.5 s) plus two renewals the standby may not have seen yet (1 s each).
SETTLED = 2.5


def replicas_setup(sim: Simulator, tmp_path: Path, *, webhook_url: str) -> Settings:
    """Seed the cluster (PODS, healthy, in NAMESPACE) and return the replicas' shared settings."""
    ensure_namespace(sim, NAMESPACE)
    ensure_namespace(sim, LEASE_NAMESPACE)
    for name in PODS:
        sim.store.create("pods", make_pod(name, namespace=NAMESPACE))
        set_pod_state(sim, name, namespace=NAMESPACE)
    return Settings(
        port=0,
        kubeconfig=sim.write_kubeconfig(tmp_path / "kubeconfig"),
        kinds=("pods",),
        webhook_url=webhook_url,
        leader_election=True,
        lease_namespace=LEASE_NAMESPACE,
        lease_duration=TIMING.lease_duration,
        lease_renew_deadline=TIMING.renew_deadline,
        lease_retry_period=TIMING.retry_period,
        log_level="warning",
    )


def crash_keys(pods: tuple[str, ...]) -> set[TransitionKey]:
    return {(NAMESPACE, p, "container/app/waiting_reason", None, "CrashLoopBackOff") for p in pods}


def recover_keys(pods: tuple[str, ...]) -> set[TransitionKey]:
    return {(NAMESPACE, p, "container/app/waiting_reason", "CrashLoopBackOff", None) for p in pods}


async def metrics_text(agent: Agent, http: httpx.AsyncClient) -> str:
    assert agent.url is not None
    return (await http.get(agent.url.removesuffix("/mcp") + "/metrics")).text


async def drain_callbacks(agent: Agent) -> None:
    """Wait until every sink (webhooks included) has handled what was dispatched so far."""
    await agent.registry.dispatched()
    for sub in agent.registry.subscriptions:
        await sub.drained()


async def renewed_after(sim: Simulator, moment: float, *, name: str = "kube-watchcache") -> None:
    """Wait for a renewal of the Lease stamped after `moment` (unix seconds)."""
    changed = anyio.Event()

    def listener(_type: str, resource: str, _obj: dict[str, Any]) -> None:
        if resource == "leases":
            changed.set()

    sim.store.add_listener(listener)
    try:
        while True:
            lease = sim.store.get("leases", LEASE_NAMESPACE, name)
            renew = (lease or {}).get("spec", {}).get("renewTime")
            if renew and dt.datetime.fromisoformat(renew).timestamp() > moment:
                return
            await changed.wait()
            changed = anyio.Event()
    finally:
        sim.store.remove_listener(listener)


def webhook_subscribed(agent: Agent) -> bool:
    return any(s.name.startswith("webhook") for s in agent.registry.subscriptions)


@dataclasses.dataclass
class Replica:
    """One agent running in its own task, so either can be stopped first."""

    agent: Agent
    seen: Seen
    stop: anyio.Event
    stopped: anyio.Event

    async def kill(self) -> None:
        self.stop.set()
        await self.stopped.wait()


async def _serve(
    settings: Settings, *, task_status: anyio.abc.TaskStatus[Replica] = anyio.TASK_STATUS_IGNORED
) -> None:
    replica = None
    try:
        async with running_agent(settings) as agent:
            seen = Seen()
            agent.registry.subscribe(seen, name="test-seen")
            replica = Replica(agent, seen, anyio.Event(), anyio.Event())
            task_status.started(replica)
            await replica.stop.wait()
    finally:
        if replica is not None:
            replica.stopped.set()


async def start_replica(
    tg: anyio.abc.TaskGroup, base: Settings, identity: str, tmp_path: Path
) -> Replica:
    settings = dataclasses.replace(base, identity=identity, db=tmp_path / f"{identity}.db")
    replica: Replica = await tg.start(_serve, settings)
    return replica


@pytest.mark.anyio
async def test_webhooks_fire_once_and_a_successor_takes_over(tmp_path: Path) -> None:
    async with (
        Simulator(tls=True, token="sa-token") as sim,
        webhook_receiver() as receiver,
        httpx.AsyncClient(timeout=10) as http,
    ):
        base = replicas_setup(sim, tmp_path, webhook_url=receiver.url)
        async with anyio.create_task_group() as tg:
            first = await start_replica(tg, base, "replica-a", tmp_path)
            second = await start_replica(tg, base, "replica-b", tmp_path)
            a, seen_a, b, seen_b = first.agent, first.seen, second.agent, second.seen
            assert a.elector is not None
            assert b.elector is not None
            with anyio.fail_after(20):
                await a.informers.wait_synced()
                await b.informers.wait_synced()
                await first_leader(a, b)  # one creates the Lease; the other finds it held
            replicas = {"replica-a": first, "replica-b": second}
            leader_id = "replica-a" if a.elector.is_leader else "replica-b"
            follower_id = "replica-b" if leader_id == "replica-a" else "replica-a"
            leader, leader_replica = replicas[leader_id].agent, replicas[leader_id]
            follower, seen_follower = replicas[follower_id].agent, replicas[follower_id].seen
            assert leader.elector is not None
            assert follower.elector is not None
            assert not follower.elector.is_leader
            assert webhook_subscribed(leader)
            assert not webhook_subscribed(follower)
            leader_metrics = await metrics_text(leader, http)
            follower_metrics = await metrics_text(follower, http)
            assert f'kube_watchcache_leader{{identity="{leader_id}"}} 1.0' in leader_metrics
            assert f'kube_watchcache_leader{{identity="{follower_id}"}} 0.0' in follower_metrics

            # Phase 1: both replicas see the crash loops; the receiver gets each once.
            for name in PODS:
                set_pod_state(
                    sim, name, namespace=NAMESPACE, ready=False, waiting="CrashLoopBackOff"
                )
            with anyio.fail_after(20):
                await seen_a.wait_for(crash_keys(PODS))
                await seen_b.wait_for(crash_keys(PODS))
                await drain_callbacks(a)
                await drain_callbacks(b)
            assert sorted(seen_a.keys) == sorted(seen_b.keys)  # in-process sinks fire everywhere
            assert receiver.counts() == dict.fromkeys(seen_a.keys, 1)
            assert {d.replica for d in receiver.deliveries} == {leader_id}
            assert (leader.elector.acquisitions, leader.elector.losses) == (1, 0)
            assert follower.elector.acquisitions == 0
            phase_one = len(receiver.deliveries)

            # Phase 2: the leader dies holding the Lease; the follower waits it out, then leads.
            # It dies after a renewal past the replay margin (see the module docstring).
            with anyio.fail_after(10):
                await renewed_after(sim, time.time() + SETTLED)
            leader.elector.release_on_exit = False  # a killed pod releases nothing
            await leader_replica.kill()
            lease = sim.store.get("leases", LEASE_NAMESPACE, base.lease_name)
            assert lease is not None
            assert lease["spec"]["holderIdentity"] == leader_id  # not released
            last_renewal = dt.datetime.fromisoformat(lease["spec"]["renewTime"])
            with anyio.fail_after(TIMING.takeover_bound + 5):  # hang guard
                await follower.elector.wait_for(True)
            lease = sim.store.get("leases", LEASE_NAMESPACE, base.lease_name)
            assert lease is not None
            assert lease["spec"]["holderIdentity"] == follower_id
            # Never before the dead leader's lease could have expired, as the Lease records it.
            taken = dt.datetime.fromisoformat(lease["spec"]["acquireTime"])
            assert taken >= last_renewal + dt.timedelta(seconds=TIMING.lease_duration), lease
            assert webhook_subscribed(follower)
            assert f'kube_watchcache_leader{{identity="{follower_id}"}} 1.0' in await metrics_text(
                follower, http
            )

            # Phase 3: what happens next is delivered by the new leader, once.
            for name in PODS:
                set_pod_state(sim, name, namespace=NAMESPACE)
            with anyio.fail_after(20):
                await seen_follower.wait_for(recover_keys(PODS))
                await drain_callbacks(follower)
            later = receiver.deliveries[phase_one:]
            assert {d.replica for d in later} == {follower_id}
            assert recover_keys(PODS) <= {d.key for d in later}
            assert all(n == 1 for n in receiver.counts().values()), receiver.counts()
            for r in replicas.values():
                r.stop.set()


async def first_leader(a: Agent, b: Agent) -> None:
    async with anyio.create_task_group() as tg:

        async def until(agent: Agent) -> None:
            assert agent.elector is not None
            await agent.elector.wait_for(True)
            tg.cancel_scope.cancel()

        tg.start_soon(until, a)
        tg.start_soon(until, b)
