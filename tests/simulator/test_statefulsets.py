"""StatefulSets: served like every apps/v1 kind, and driven by a simulated controller.

The controller tests run the scenario's control plane on virtual time
(`settle()` lets it react, `advance(seconds)` lets the kubelets start
containers); the API tests go over loopback HTTP with the kit's client.
"""

from __future__ import annotations

import argparse
import copy
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from simulator import ObjectStore, Simulator
from simulator.cli import add_simulate_arguments, run_simulate
from simulator.objects import make_container, make_pod_template
from simulator.scenario import Scenario
from simulator.statefulsets import make_statefulset
from simulator.virtual_clock import SimClock

from .kit import TABLE, names, serve, watching

Obj = dict[str, Any]
NS = "default"


def _template(image: str = "postgres:16.6") -> Obj:
    container = make_container(
        name="db",
        image=image,
        cpu_request="100m",
        memory_request="128Mi",
        cpu_limit=None,
        memory_limit="256Mi",
        port=5432,
    )
    return make_pod_template(labels={"app": "db"}, containers=[container])


def _sts(name: str = "db", *, replicas: int = 3, **options: Any) -> Obj:
    return make_statefulset(
        namespace=NS,
        name=name,
        uid=f"uid-{name}",
        created="2025-03-01T00:00:00Z",
        replicas=replicas,
        template=_template(),
        **options,
    )


def _cluster(**options: Any) -> tuple[ObjectStore, Scenario]:
    clock = SimClock(datetime(2025, 3, 1, tzinfo=UTC))
    store = ObjectStore(clock=clock)
    params: Obj = {"nodes": 3, "deployments": 0, "namespaces": 1, "churn": 1.0}
    params.update(options)
    scenario = Scenario(store, seed=3, clock=clock, **params)
    scenario.populate()
    return store, scenario


def _pods(store: ObjectStore, name: str = "db") -> dict[str, Obj]:
    return {
        p["metadata"]["name"]: p
        for p in store.list("pods", NS)
        if p["metadata"]["name"].rpartition("-")[0] == name
    }


def _ready(pod: Obj) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", ())
    )


def _status(store: ObjectStore, name: str = "db") -> Obj:
    sts = store.get("statefulsets", NS, name)
    assert sts is not None
    status: Obj = sts["status"]
    return status


def _running(scenario: Scenario, sts: Obj, *, seconds: float = 120) -> None:
    scenario.store.create("statefulsets", sts)
    scenario.settle()
    scenario.advance(seconds)


def _set_image(store: ObjectStore, image: str, *, name: str = "db") -> Obj:
    sts = store.get("statefulsets", NS, name)
    assert sts is not None
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return store.update("statefulsets", sts)


def _deletions(store: ObjectStore) -> list[str]:
    """Names of pods as their deletion starts, in order (recorded by a store listener)."""
    seen: list[str] = []
    uids: set[str] = set()

    def follow(event_type: str, resource: str, obj: Obj) -> None:
        meta = obj["metadata"]
        if resource == "pods" and meta.get("deletionTimestamp") and meta["uid"] not in uids:
            uids.add(meta["uid"])
            seen.append(meta["name"])

    store.add_listener(follow)
    return seen


# -- the API --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_discovery_lists_statefulsets_with_their_short_name_and_verbs() -> None:
    async with serve() as (_, client):
        apps = {r["name"]: r for r in (await client.get("/apis/apps/v1")).json()["resources"]}
        sts = apps["statefulsets"]
        assert sts["kind"] == "StatefulSet"
        assert sts["namespaced"] is True
        assert sts["shortNames"] == ["sts"]
        assert {"list", "watch", "get", "create", "update", "patch", "delete"} <= set(sts["verbs"])
        assert apps["statefulsets/status"]["verbs"] == ["get", "patch", "update"]


@pytest.mark.anyio
async def test_statefulsets_list_get_select_page_and_print() -> None:
    async with serve() as (_, client):
        base = f"/apis/apps/v1/namespaces/{NS}/statefulsets"
        for name in ("cache", "db", "queue"):
            body = _sts(name)
            body["metadata"]["labels"] = {"tier": "data" if name != "queue" else "messaging"}
            created = await client.post(base, json=body)
            assert created.status_code == 201, created.text
            assert created.json()["metadata"]["generation"] == 1

        listed = (await client.get("/apis/apps/v1/statefulsets")).json()
        assert listed["kind"] == "StatefulSetList"
        assert names(listed) == ["cache", "db", "queue"]
        assert (await client.get(f"{base}/db")).json()["spec"]["serviceName"] == "db"
        assert (await client.get(f"{base}/nope")).status_code == 404

        by_label = (await client.get(base, params={"labelSelector": "tier=data"})).json()
        assert names(by_label) == ["cache", "db"]
        by_field = (await client.get(base, params={"fieldSelector": "metadata.name=queue"})).json()
        assert names(by_field) == ["queue"]

        first = (await client.get(base, params={"limit": 2})).json()
        assert names(first) == ["cache", "db"]
        rest = (
            await client.get(base, params={"limit": 2, "continue": first["metadata"]["continue"]})
        ).json()
        assert names(rest) == ["queue"]

        table = (await client.get(base, headers={"Accept": TABLE})).json()
        assert [c["name"] for c in table["columnDefinitions"]][:3] == ["Name", "Ready", "Age"]
        assert table["rows"][1]["cells"][:2] == ["db", "0/3"]


@pytest.mark.anyio
async def test_a_template_change_bumps_the_generation_and_a_status_write_does_not() -> None:
    async with serve() as (_, client):
        base = f"/apis/apps/v1/namespaces/{NS}/statefulsets"
        await client.post(base, json=_sts())
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "db", "image": "pg:17"}]}}}}
        patched = await client.patch(
            f"{base}/db",
            json=patch,
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["metadata"]["generation"] == 2
        status = await client.patch(
            f"{base}/db/status",
            json={"status": {"replicas": 3}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert status.json()["metadata"]["generation"] == 2
        assert status.json()["status"]["replicas"] == 3


# -- the controller -------------------------------------------------------------------


def test_pods_are_created_in_order_one_at_a_time_once_the_previous_is_ready() -> None:
    store, scenario = _cluster()
    store.create("statefulsets", _sts())
    scenario.settle()
    assert list(_pods(store)) == ["db-0"]  # db-1 waits until db-0 runs and is ready

    scenario.advance(120)
    pods = _pods(store)
    assert sorted(pods) == ["db-0", "db-1", "db-2"]
    assert all(_ready(p) for p in pods.values())
    assert [p["metadata"]["creationTimestamp"] for p in pods.values()] == sorted(
        p["metadata"]["creationTimestamp"] for p in pods.values()
    )
    status = _status(store)
    revision = status["updateRevision"]
    assert revision.startswith("db-")
    assert status == {
        "availableReplicas": 3,
        "collisionCount": 0,
        "currentReplicas": 3,
        "currentRevision": revision,
        "observedGeneration": 1,
        "readyReplicas": 3,
        "replicas": 3,
        "updateRevision": revision,
        "updatedReplicas": 3,
    }
    pod = pods["db-1"]
    (ref,) = pod["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
        "StatefulSet",
        "db",
        "uid-db",
        True,
    )
    assert pod["metadata"]["labels"] == {
        "app": "db",
        "apps.kubernetes.io/pod-index": "1",
        "controller-revision-hash": revision,
        "statefulset.kubernetes.io/pod-name": "db-1",
    }
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("db-1", "db")


def test_parallel_pods_are_created_at_once() -> None:
    store, scenario = _cluster()
    store.create("statefulsets", _sts(pod_management="Parallel"))
    scenario.settle()
    assert sorted(_pods(store)) == ["db-0", "db-1", "db-2"]


def test_a_rolling_update_replaces_pods_from_the_highest_ordinal_one_at_a_time() -> None:
    store, scenario = _cluster()
    _running(scenario, _sts())
    before = _status(store)["currentRevision"]
    deleted = _deletions(store)
    not_ready_at_once: list[int] = []

    def watch_readiness(event_type: str, resource: str, obj: Obj) -> None:
        if resource == "pods":
            pods = _pods(store).values()
            not_ready_at_once.append(sum(1 for p in pods if not _ready(p)))

    store.add_listener(watch_readiness)
    updated = _set_image(store, "postgres:16.7")
    assert updated["metadata"]["generation"] == 2
    scenario.settle()
    status = _status(store)
    assert status["observedGeneration"] == 2
    assert status["currentRevision"] == before != status["updateRevision"]
    assert deleted == ["db-2"]

    scenario.advance(300)
    assert deleted == ["db-2", "db-1", "db-0"]
    assert max(not_ready_at_once) == 1
    status = _status(store)
    assert status["currentRevision"] == status["updateRevision"] != before
    assert (status["currentReplicas"], status["updatedReplicas"], status["readyReplicas"]) == (
        3,
        3,
        3,
    )
    images = {p["spec"]["containers"][0]["image"] for p in _pods(store).values()}
    assert images == {"postgres:16.7"}


def test_a_partition_stops_the_rollout_at_the_partition() -> None:
    store, scenario = _cluster()
    strategy = {"rollingUpdate": {"partition": 2}, "type": "RollingUpdate"}
    _running(scenario, _sts(update_strategy=strategy))
    before = _status(store)["currentRevision"]
    deleted = _deletions(store)
    _set_image(store, "postgres:16.7")
    scenario.settle()
    scenario.advance(300)
    assert deleted == ["db-2"]
    status = _status(store)
    assert status["currentRevision"] == before != status["updateRevision"]
    assert (status["currentReplicas"], status["updatedReplicas"]) == (2, 1)
    revisions = {
        n: p["metadata"]["labels"]["controller-revision-hash"] for n, p in _pods(store).items()
    }
    assert revisions == {"db-0": before, "db-1": before, "db-2": status["updateRevision"]}

    # A pod below the partition that goes away comes back at its own revision.
    scenario.runtime.delete_pod((NS, "db-0"), grace=30)
    scenario.advance(60)
    assert _pods(store)["db-0"]["spec"]["containers"][0]["image"] == "postgres:16.6"


def test_on_delete_replaces_nothing_until_a_pod_is_deleted() -> None:
    store, scenario = _cluster()
    _running(scenario, _sts(update_strategy={"type": "OnDelete"}))
    deleted = _deletions(store)
    _set_image(store, "postgres:16.7")
    scenario.settle()
    scenario.advance(300)
    assert deleted == []
    status = _status(store)
    assert status["currentRevision"] != status["updateRevision"]
    assert status.get("updatedReplicas", 0) == 0

    scenario.runtime.delete_pod((NS, "db-1"), grace=30)
    scenario.advance(60)
    pods = _pods(store)
    assert pods["db-1"]["spec"]["containers"][0]["image"] == "postgres:16.7"
    assert pods["db-2"]["spec"]["containers"][0]["image"] == "postgres:16.6"
    assert _status(store)["updatedReplicas"] == 1


def test_scaling_down_removes_the_highest_ordinals_first() -> None:
    store, scenario = _cluster()
    _running(scenario, _sts(replicas=4))
    deleted = _deletions(store)
    sts = store.get("statefulsets", NS, "db")
    assert sts is not None
    sts["spec"]["replicas"] = 2
    store.update("statefulsets", sts)
    scenario.settle()
    scenario.advance(60)
    assert deleted == ["db-3", "db-2"]
    assert sorted(_pods(store)) == ["db-0", "db-1"]
    assert _status(store)["replicas"] == 2


def test_a_crash_looping_pod_counts_as_not_ready_and_stops_the_rollout() -> None:
    store, scenario = _cluster()
    _running(scenario, _sts())
    scenario.kubelet.pod_faults[(NS, "db-1")] = "crash"
    assert scenario.kubelet.kill((NS, "db-1"))
    scenario.advance(120)
    waiting = _pods(store)["db-1"]["status"]["containerStatuses"][0]["state"]
    assert waiting["waiting"]["reason"] == "CrashLoopBackOff"
    status = _status(store)
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (3, 2, 2)

    deleted = _deletions(store)
    _set_image(store, "postgres:16.7")
    scenario.advance(120)
    assert deleted == []  # OrderedReady: nothing is replaced while db-1 is not ready


@pytest.mark.parametrize(
    "spec",
    [
        {"replicas": 1},
        {"replicas": 1, "template": {"spec": {"containers": []}}},
        {"replicas": "three", "template": _template()},
        {"template": _template(), "updateStrategy": {"rollingUpdate": {"partition": "x"}}},
    ],
)
def test_a_set_the_controller_cannot_read_is_left_alone_with_a_warning(spec: Obj) -> None:
    store, scenario = _cluster()
    store.create("statefulsets", {"metadata": {"name": "odd", "namespace": NS}, "spec": spec})
    scenario.settle()
    assert _pods(store, "odd") == {}
    warnings = [e for e in store.list("events", NS) if e["involvedObject"]["name"] == "odd"]
    assert [(e["type"], e["reason"]) for e in warnings] == [("Warning", "FailedSync")]
    assert scenario.counters["statefulsets_unusable"] == 1


def test_deleting_the_set_deletes_its_pods() -> None:
    store, scenario = _cluster()
    _running(scenario, _sts())
    store.delete("statefulsets", NS, "db")
    scenario.settle()
    scenario.advance(60)
    assert _pods(store) == {}


@pytest.mark.anyio
async def test_controller_status_changes_arrive_on_a_watch() -> None:
    store, scenario = _cluster(churn=0)
    async with Simulator(store=store) as sim, httpx.AsyncClient(base_url=sim.url) as client:
        path = f"/apis/apps/v1/namespaces/{NS}/statefulsets"
        async with watching(client, path, allowWatchBookmarks="true") as watch:
            created = await client.post(path, json=_sts(replicas=2))
            assert created.status_code == 201
            added = await watch.next()
            assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "db")
            # The controller, scheduler and kubelets play out two minutes.
            scenario.settle()
            scenario.advance(120)
            with anyio.fail_after(10):
                while True:
                    event = await watch.next()
                    assert event["type"] == "MODIFIED"
                    if event["object"]["status"].get("readyReplicas") == 2:
                        break
            assert int(event["object"]["metadata"]["resourceVersion"]) > int(
                added["object"]["metadata"]["resourceVersion"]
            )


# -- the seeded scenario and the churn -----------------------------------------------


def test_the_default_scenario_has_no_statefulsets() -> None:
    store, scenario = _cluster(deployments=3)
    assert store.list("statefulsets") == []
    assert "statefulsets" not in scenario.populated


@pytest.mark.parametrize("seed", [1, 2])
def test_seeded_statefulsets_show_a_crash_loop_and_a_stuck_rollout(seed: int) -> None:
    clock = SimClock(datetime(2025, 3, 1, tzinfo=UTC))
    store = ObjectStore(clock=clock)
    scenario = Scenario(
        store,
        seed=seed,
        nodes=4,
        deployments=3,
        namespaces=2,
        churn=1.0,
        clock=clock,
        statefulsets=True,
    )
    counts = scenario.populate()
    assert counts["statefulsets"] == 3
    scenario.advance(300)
    sets = {s["metadata"]["name"]: s for s in store.list("statefulsets")}
    assert sorted(sets) == ["kafka", "postgres", "redis"]
    namespace = sets["postgres"]["metadata"]["namespace"]
    pods = {p["metadata"]["name"]: p for p in store.list("pods", namespace)}

    healthy = sets["postgres"]["status"]
    assert (healthy["readyReplicas"], healthy["updatedReplicas"]) == (3, 3)
    assert healthy["currentRevision"] == healthy["updateRevision"]

    redis = sets["redis"]["status"]
    assert (redis["replicas"], redis["readyReplicas"]) == (3, 2)
    state = pods["redis-2"]["status"]["containerStatuses"][0]["state"]
    assert state["waiting"]["reason"] == "CrashLoopBackOff"

    kafka = sets["kafka"]
    assert kafka["metadata"]["generation"] == 2
    assert kafka["status"]["currentRevision"] != kafka["status"]["updateRevision"]
    assert (kafka["status"]["updatedReplicas"], kafka["status"]["readyReplicas"]) == (1, 2)
    stuck = pods["kafka-2"]["status"]["containerStatuses"][0]["state"]
    assert stuck["waiting"]["reason"] == "ImagePullBackOff"
    assert (
        pods["kafka-2"]["metadata"]["labels"]["controller-revision-hash"]
        == (kafka["status"]["updateRevision"])
    )


def test_seeded_statefulsets_are_the_same_for_the_same_seed() -> None:
    def build() -> list[Obj]:
        clock = SimClock(datetime(2025, 3, 1, tzinfo=UTC))
        store = ObjectStore(clock=clock)
        Scenario(store, seed=9, nodes=3, deployments=2, clock=clock, statefulsets=True).populate()
        return [copy.deepcopy(p) for p in store.list("pods")] + store.list("statefulsets")

    assert build() == build()


def test_the_churn_scales_and_rolls_out_statefulsets() -> None:
    clock = SimClock(datetime(2025, 3, 1, tzinfo=UTC))
    store = ObjectStore(clock=clock)
    scenario = Scenario(
        store,
        seed=2,
        nodes=4,
        deployments=0,
        namespaces=1,
        churn=1.0,
        clock=clock,
        statefulsets=True,
    )
    scenario.populate()
    scenario.advance(60)
    scaled = scenario.step("scale")
    assert scaled.startswith("scale statefulset ")
    assert "postgres" in scaled
    rolled = scenario.step("rollout")
    assert rolled.startswith("rollout statefulset ")
    assert "postgres" in rolled
    postgres = store.get("statefulsets", scenario.last_target[0], "postgres")  # type: ignore[index]
    assert postgres is not None
    assert postgres["status"]["observedGeneration"] == postgres["metadata"]["generation"] == 3


@pytest.mark.anyio
async def test_the_simulate_command_seeds_statefulsets_when_asked(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    args = parser.parse_args(
        ["--nodes", "3", "--deployments", "1", "--churn", "0", "--statefulsets",
         "--kubeconfig-out", str(tmp_path / "kubeconfig")]
    )  # fmt: skip
    out = io.StringIO()
    started = anyio.Event()
    served: list[Simulator] = []

    def on_ready(sim: Simulator, _: Scenario) -> None:
        served.append(sim)
        started.set()

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run_simulate(args, on_ready=on_ready, out=out))
            await started.wait()
            async with httpx.AsyncClient(base_url=served[0].url) as client:
                listed = (await client.get("/apis/apps/v1/statefulsets")).json()
            tg.cancel_scope.cancel()
    assert names(listed) == ["kafka", "postgres", "redis"]
    assert "1 deployments, 3 statefulsets, " in out.getvalue()
