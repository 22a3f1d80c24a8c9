"""A seed decides everything: the same seed replays the same store events.

Two runs are compared event by event through the store's listener, whole
objects included (uids, names, timestamps, resourceVersions): nothing may
depend on the wall clock, string hashing or the order of a set.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import msgspec
import pytest

from simulator.scenario import Scenario
from simulator.storage import ObjectStore
from simulator.virtual_clock import SimClock

START = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
SIZE: dict[str, Any] = {
    "nodes": 6,
    "deployments": 10,
    "pods_per_deployment": 3,
    "namespaces": 3,
    "churn": 2.0,
}

Event = tuple[str, str, str, str, bytes]


def _recorded(seed: int, *, steps: int, start: datetime = START) -> tuple[list[Event], list[str]]:
    clock = SimClock(start)
    store = ObjectStore(clock=clock)
    events: list[Event] = []

    def record(event_type: str, resource: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        events.append(
            (
                event_type,
                resource,
                meta.get("namespace", ""),
                meta["name"],
                msgspec.json.encode(obj, order="sorted"),
            )
        )

    store.add_listener(record)
    scenario = Scenario(store, seed=seed, clock=clock, **SIZE)
    scenario.populate()
    descriptions = [scenario.step() for _ in range(steps)]
    return events, descriptions


def test_the_same_seed_gives_the_same_events() -> None:
    first, first_steps = _recorded(42, steps=120)
    second, second_steps = _recorded(42, steps=120)
    assert first_steps == second_steps
    assert len(first) == len(second) > 500
    for index, (a, b) in enumerate(zip(first, second, strict=True)):
        assert a == b, f"event {index} differs: {a[:4]} vs {b[:4]}"
    kinds = {(t, r) for t, r, *_ in first}
    assert {("MODIFIED", "pods"), ("DELETED", "pods"), ("MODIFIED", "deployments")} <= kinds


def test_another_seed_gives_another_cluster() -> None:
    first, first_steps = _recorded(42, steps=30)
    other, other_steps = _recorded(43, steps=30)
    assert first_steps != other_steps
    assert [e[:4] for e in first] != [e[:4] for e in other]


def test_populate_builds_the_requested_cluster() -> None:
    clock = SimClock(START)
    store = ObjectStore(clock=clock)
    scenario = Scenario(
        store, seed=5, nodes=40, deployments=120, pods_per_deployment=4, namespaces=20, clock=clock
    )
    counts = scenario.populate()
    assert counts["nodes"] == store.count("nodes") == 40
    assert counts["deployments"] == store.count("deployments") == 120
    assert counts["pods"] == store.count("pods") == 480
    assert store.count("replicasets") >= 120
    names = {ns["metadata"]["name"] for ns in store.list("namespaces")}
    assert {"default", "kube-system", "payments"} <= names
    assert len(names - {"kube-system", "kube-public", "kube-node-lease"}) == 20
    assert all(p["status"]["phase"] == "Running" for p in store.list("pods"))
    with pytest.raises(RuntimeError, match="already populated"):
        scenario.populate()


def test_an_overfull_cluster_leaves_unschedulable_pods() -> None:
    clock = SimClock(START)
    store = ObjectStore(clock=clock)
    scenario = Scenario(store, seed=5, nodes=2, deployments=20, pods_per_deployment=8, clock=clock)
    scenario.populate()
    pending = [p for p in store.list("pods") if p["status"]["phase"] == "Pending"]
    assert pending
    assert scenario.stats()["pending_unschedulable"] == len(pending)
    for pod in pending:
        (scheduled,) = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
        assert scheduled["reason"] == "Unschedulable"
    unavailable = [d for d in store.list("deployments") if d["status"].get("unavailableReplicas")]
    assert unavailable


def test_bad_parameters_are_refused() -> None:
    store = ObjectStore()
    with pytest.raises(ValueError, match="at least 1 node"):
        Scenario(store, nodes=0)
    with pytest.raises(ValueError, match="churn"):
        Scenario(store, churn=-1)
    with pytest.raises(RuntimeError, match="populate"):
        Scenario(store).step()


@pytest.mark.anyio
async def test_run_steps_at_the_churn_rate_like_step() -> None:
    clock = SimClock(START)
    store = ObjectStore(clock=clock)
    scenario = Scenario(store, seed=9, clock=clock, **{**SIZE, "churn": 400.0})
    scenario.populate()
    seen: list[str] = []
    with anyio.fail_after(10):
        await scenario.run(steps=25, on_step=seen.append)
    assert scenario.steps == 25
    expected = Scenario(
        ObjectStore(clock=(c := SimClock(START))), seed=9, clock=c, **{**SIZE, "churn": 400.0}
    )
    expected.populate()
    assert seen == [expected.step() for _ in range(25)]


@pytest.mark.anyio
async def test_run_stops_cleanly_when_cancelled() -> None:
    clock = SimClock(START)
    store = ObjectStore(clock=clock)
    scenario = Scenario(store, seed=9, clock=clock, **{**SIZE, "churn": 200.0})
    scenario.populate()
    three = anyio.Event()

    def count(_: str) -> None:
        if scenario.steps >= 3:
            three.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: scenario.run(on_step=count))
            await three.wait()
            tg.cancel_scope.cancel()
    assert scenario.steps >= 3
