"""A leader that exits gracefully releases the Lease; a standby takes over at once.

Against the simulator's Lease endpoint, with client-go's default lease of
15 s: without a release a standby waits that out (up to 19 s); with it, the
standby acquires at its next poll. A release never clears a Lease that has
meanwhile passed to someone else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from simulator import Simulator
from watcher import Connection, load_connection
from watcher.leader import LeaderElector, LeaseTiming, _ObservingLeaseLock

pytestmark = pytest.mark.anyio

# A long lease and a short poll: "promptly" is then far from "after expiry".
TIMING = LeaseTiming(lease_duration=15, renew_deadline=10, retry_period=1)
LEASE = ("default", "kwc")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
async def connection(sim: Simulator) -> AsyncIterator[Connection]:
    conn = await load_connection(server=sim.url)
    try:
        yield conn
    finally:
        await conn.close()


def elector(connection: Connection, identity: str) -> LeaderElector:
    return LeaderElector(
        connection.api, name=LEASE[1], namespace=LEASE[0], identity=identity, timing=TIMING
    )


def lease_spec(sim: Simulator) -> dict[str, Any]:
    lease = sim.store.get("leases", *LEASE)
    assert lease is not None
    return dict(lease["spec"])


async def test_a_graceful_exit_releases_the_lease_and_a_standby_takes_over_promptly(
    sim: Simulator, connection: Connection
) -> None:
    leader, standby = elector(connection, "a"), elector(connection, "b")
    async with anyio.create_task_group() as tg:
        leader_scope = anyio.CancelScope()

        async def run_leader() -> None:
            with leader_scope:
                await leader.run()

        tg.start_soon(run_leader)
        with anyio.fail_after(10):
            await leader.wait_for(True)
        tg.start_soon(standby.run)
        assert not standby.is_leader
        # Without a release the standby could not lead before the lease expires: the
        # library counts lease_duration from when it first saw the holder.

        mark = time.time() - 0.5  # when the leader's informers stopped, say
        leader.mark_release(mark)
        leader_scope.cancel()  # what leaving the agent's task group does
        # A deadline a third of the lease: only a released lease can be taken that soon.
        with anyio.fail_after(3 * TIMING.retry_period + 2):
            await standby.wait_for(True)
        assert not leader.is_leader
        assert leader.released == 1
        assert lease_spec(sim)["holderIdentity"] == "b"
        # The successor knows where the leader stopped: its replay of the gap starts there.
        assert standby.handover_since == pytest.approx(mark, abs=0.01)
        tg.cancel_scope.cancel()


async def test_the_release_leaves_alone_a_lease_that_passed_to_another(
    sim: Simulator, connection: Connection
) -> None:
    leader = elector(connection, "a")
    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()

        async def run_leader() -> None:
            with scope:
                await leader.run()

        tg.start_soon(run_leader)
        with anyio.fail_after(10):
            await leader.wait_for(True)
        # Another replica took the lease (say this one was partitioned), and this one
        # stops before its next renewal shows it.
        lease = sim.store.get("leases", *LEASE)
        assert lease is not None
        lease["spec"]["holderIdentity"] = "intruder"
        sim.store.update("leases", lease)
        scope.cancel()
    assert leader.released == 0
    spec = lease_spec(sim)
    assert spec["holderIdentity"] == "intruder"
    assert spec["leaseDurationSeconds"] == TIMING.lease_duration


async def test_a_crashed_leader_releases_nothing(sim: Simulator, connection: Connection) -> None:
    leader = elector(connection, "a")
    leader.release_on_exit = False
    async with anyio.create_task_group() as tg:
        tg.start_soon(leader.run)
        with anyio.fail_after(10):
            await leader.wait_for(True)
        tg.cancel_scope.cancel()
    assert lease_spec(sim)["holderIdentity"] == "a"


async def test_a_bug_in_an_election_round_is_an_error_and_the_elector_competes_again(
    connection: Connection, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Connection trouble is a warning (retried); a programming error is loud."""
    real_get = _ObservingLeaseLock.get
    bugs = [KeyError("spec")]

    async def get_with_a_bug(self: _ObservingLeaseLock, name: str, namespace: str) -> Any:
        if bugs:
            raise bugs.pop()
        return await real_get(self, name, namespace)

    monkeypatch.setattr(_ObservingLeaseLock, "get", get_with_a_bug)
    caplog.set_level(logging.WARNING, logger="watcher.leader")
    candidate = elector(connection, "a")
    async with anyio.create_task_group() as tg:
        tg.start_soon(candidate.run)
        with anyio.fail_after(3 * TIMING.retry_period + 2):
            await candidate.wait_for(True)  # the round after the bug acquires
        tg.cancel_scope.cancel()
    assert candidate.errors == 1
    (record,) = [r for r in caplog.records if "failed" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert "KeyError" in record.getMessage()
    assert record.exc_info is not None
