"""The elector on its own: timing rules, stepping down, competing again, cancellation.

Against the simulator's Lease endpoint: a renewal refused by the API server
(500) makes the leader step down after its renew deadline; so does a renewal
that hangs, and an API server that goes away (connection refused: the
library lets that exception through); each time the elector competes again
and wins the lease back, because nobody else wants it. The webhook gate
follows every change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import anyio
import pytest

from dispatch import CallbackRegistry, subscribe_while_leading
from mcpserver.agent import running_agent
from mcpserver.config import Settings
from mcpserver.errors import ConfigError as AgentConfigError
from simulator import Simulator
from watcher import Connection, load_connection
from watcher.errors import ConfigError
from watcher.leader import LeaderElector, LeaseTiming

TIMING = LeaseTiming(lease_duration=4, renew_deadline=3, retry_period=1)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lease_duration": 2.5, "renew_deadline": 2, "retry_period": 1}, "whole seconds"),
        ({"lease_duration": 3, "renew_deadline": 2, "retry_period": 0.5}, "at least 1s"),
        ({"lease_duration": 3, "renew_deadline": 1.2, "retry_period": 1}, "1.2 x the retry"),
        ({"lease_duration": 2, "renew_deadline": 2, "retry_period": 1}, "exceed the renew"),
        ({"lease_duration": float("inf"), "renew_deadline": 2, "retry_period": 1}, "finite"),
    ],
)
def test_lease_timing_rules(values: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LeaseTiming(**values)


def test_default_timing_is_client_go_s() -> None:
    timing = LeaseTiming()
    assert (timing.lease_duration, timing.renew_deadline, timing.retry_period) == (15, 10, 2)
    assert timing.takeover_bound == 19


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (Settings(leader_election=True, lease_duration=10, lease_renew_deadline=12), "exceed"),
        (Settings(leader_election=True, identity=""), "needs --lease-name"),
    ],
)
async def test_agent_refuses_bad_leader_settings_before_starting(
    settings: Settings, message: str
) -> None:
    with pytest.raises(AgentConfigError, match=message):
        async with running_agent(settings):
            pytest.fail("the agent started")


@dataclasses.dataclass
class Sim:
    sim: Simulator
    connection: Connection


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with Simulator() as simulator:
        connection = await load_connection(server=simulator.url)
        try:
            yield Sim(simulator, connection)
        finally:
            await connection.close()


def holder(sim: Simulator) -> str | None:
    lease = sim.store.get("leases", "default", "kwc")
    return None if lease is None else lease["spec"].get("holderIdentity")


@pytest.mark.anyio
async def test_elector_steps_down_competes_again_and_stops_on_cancel(sim: Sim) -> None:
    elector = LeaderElector(
        sim.connection.api, name="kwc", namespace="default", identity="me", timing=TIMING
    )
    changes: list[bool] = []
    elector.on_change(changes.append)
    registry = CallbackRegistry()
    current = subscribe_while_leading(elector, registry, lambda t: None, name="hook")
    assert current() is None

    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run)
        with anyio.fail_after(10):
            await elector.wait_for(True)
        assert holder(sim.sim) == "me"
        assert elector.holder == "me"
        sub = current()
        assert sub is not None
        assert sub in registry.subscriptions

        # The API server refuses renewals: the leader steps down at its renew deadline.
        sim.sim.faults.fail_next(100, status=500, verb="update", resource="leases")
        with anyio.fail_after(10):
            await elector.wait_for(False)
        assert current() is None
        assert sub not in registry.subscriptions
        sim.sim.faults.clear()
        with anyio.fail_after(10):
            await elector.wait_for(True)  # nobody else holds it: won back

        # A renewal hangs (no request timeout in the client): the leader steps down at its
        # renew deadline all the same, and wins the lease back once requests go through.
        sim.sim.faults.delay(30, count=1, verb="get", resource="leases")
        with anyio.fail_after(TIMING.renew_deadline + TIMING.retry_period + 1):
            await elector.wait_for(False)
        with anyio.fail_after(10):
            await elector.wait_for(True)

        # The API server goes away (connection refused): the library raises, we step down.
        errors = elector.errors
        tg.start_soon(lambda: sim.sim.restart(compact=False, down_for=2 * TIMING.retry_period))
        with anyio.fail_after(10):
            await elector.wait_for(False)
        with anyio.fail_after(15):
            await elector.wait_for(True)
        assert elector.errors > errors
        assert current() is not None

        tg.cancel_scope.cancel()

    assert not elector.is_leader  # cancelling stops the leadership at once...
    assert current() is None
    assert (
        holder(sim.sim) == ""
    )  # ...and releases the lease (see tests/watcher/test_leader_release.py)
    assert changes == [True, False] * 4
    assert (elector.acquisitions, elector.losses) == (4, 4)


def test_elector_needs_a_name_namespace_and_identity() -> None:
    with pytest.raises(ConfigError, match="identity"):
        LeaderElector(object(), name="kwc", namespace="default", identity="")  # type: ignore[arg-type]
