"""Each churn kind leaves the cluster in the state a real one would show.

The scenario is driven on virtual time: `step(kind)` performs one action,
`advance(seconds)` lets the controllers, scheduler and kubelets play out what
follows. Nothing here sleeps.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from simulator.churn import CHURN_KINDS
from simulator.scenario import Scenario
from simulator.storage import ObjectStore
from simulator.virtual_clock import SimClock

Obj = dict[str, Any]


def _make(seed: int = 1, **options: Any) -> tuple[ObjectStore, Scenario]:
    clock = SimClock(datetime(2025, 3, 1, tzinfo=UTC))
    store = ObjectStore(clock=clock)
    params: dict[str, Any] = {
        "nodes": 5,
        "deployments": 6,
        "pods_per_deployment": 3,
        "namespaces": 2,
        "churn": 1.0,
    }
    params.update(options)
    scenario = Scenario(store, seed=seed, clock=clock, **params)
    scenario.populate()
    return store, scenario


@pytest.fixture
def cluster() -> tuple[ObjectStore, Scenario]:
    return _make()


def _main(pod: Obj) -> Obj:
    name = pod["spec"]["containers"][0]["name"]
    return next(cs for cs in pod["status"]["containerStatuses"] if cs["name"] == name)


def _state(cs: Obj) -> tuple[str, str | None]:
    (kind, detail), *_ = cs["state"].items()
    return kind, detail.get("reason")


def _cond(obj: Obj, kind: str) -> Obj | None:
    return next((c for c in obj["status"].get("conditions") or () if c["type"] == kind), None)


def _owned_pods(store: ObjectStore, key: tuple[str, str]) -> list[Obj]:
    """Pods of a deployment (through its ReplicaSets)."""
    namespace, name = key
    deployment = store.get("deployments", namespace, name)
    assert deployment is not None
    rs_uids = {
        rs["metadata"]["uid"]
        for rs in store.list("replicasets", namespace)
        if rs["metadata"]["ownerReferences"][0]["uid"] == deployment["metadata"]["uid"]
    }
    return [
        p
        for p in store.list("pods", namespace)
        if p["metadata"]["ownerReferences"][0]["uid"] in rs_uids
    ]


def _ticks(scenario: Scenario, *, seconds: float, every: float) -> Iterator[float]:
    while scenario.clock.seconds < seconds:
        scenario.advance(every)
        yield scenario.clock.seconds


def test_crash_loop_backs_off_with_rising_restarts(cluster: tuple[ObjectStore, Scenario]) -> None:
    store, scenario = cluster
    assert scenario.step("crash_loop").startswith("crash loop ")
    key = scenario.last_target
    assert key is not None
    seen: list[tuple[str, str | None, int]] = []
    for _ in _ticks(scenario, seconds=240, every=2):
        pod = store.get("pods", *key)
        assert pod is not None
        cs = _main(pod)
        kind, reason = _state(cs)
        seen.append((kind, reason, cs["restartCount"]))
        assert pod["status"]["phase"] == "Running"
        if kind != "running":
            assert cs["ready"] is False
            assert _cond(pod, "Ready")["status"] == "False"  # type: ignore[index]
        if reason == "CrashLoopBackOff":
            assert cs["state"]["waiting"]["message"].startswith("back-off ")
            last = cs["lastState"]["terminated"]
            assert (last["reason"], last["exitCode"]) == ("Error", 1)
    restarts = [count for _, _, count in seen]
    assert restarts == sorted(restarts)
    assert restarts[-1] >= 3
    assert ("terminated", "Error") in {(k, r) for k, r, _ in seen}
    assert ("waiting", "CrashLoopBackOff") in {(k, r) for k, r, _ in seen}
    # Back-off grows: the gaps between restarts get longer.
    firsts = [i for i in range(1, len(seen)) if seen[i][2] > seen[i - 1][2]]
    gaps = [b - a for a, b in itertools.pairwise(firsts)]
    assert gaps[-1] > gaps[0]

    while scenario.problems:
        scenario.step("recover")
    before = _main(store.get("pods", *key))["restartCount"]  # type: ignore[arg-type]
    scenario.advance(400)
    pod = store.get("pods", *key)
    assert pod is not None
    cs = _main(pod)
    assert _state(cs) == ("running", None)
    assert cs["ready"] is True
    assert cs["restartCount"] >= before


def test_oom_kill_leaves_oomkilled_last_state(cluster: tuple[ObjectStore, Scenario]) -> None:
    store, scenario = cluster
    assert "OOM kill" in scenario.step("oom_kill")
    key = scenario.last_target
    assert key is not None
    pod = store.get("pods", *key)
    assert _state(_main(pod)) == ("terminated", "OOMKilled")  # type: ignore[arg-type]
    scenario.advance(2)
    cs = _main(store.get("pods", *key))  # type: ignore[arg-type]
    assert cs["restartCount"] == 1
    last = cs["lastState"]["terminated"]
    assert (last["reason"], last["exitCode"]) == ("OOMKilled", 137)


def test_image_pull_error_stalls_the_rollout_until_its_deadline(
    cluster: tuple[ObjectStore, Scenario],
) -> None:
    store, scenario = cluster
    assert scenario.step("image_pull_error").startswith("bad rollout (pull)")
    key = scenario.last_target
    assert key is not None
    deployment = store.get("deployments", *key)
    assert deployment is not None
    deadline = deployment["spec"]["progressDeadlineSeconds"]
    new_hash = _newest_rs(store, key)["metadata"]["labels"]["pod-template-hash"]
    reasons = set()
    for _ in _ticks(scenario, seconds=60, every=1):
        for pod in _owned_pods(store, key):
            if pod["metadata"]["labels"]["pod-template-hash"] == new_hash:
                cs = _main(pod)
                reasons.add(_state(cs))
                assert cs["started"] is False
                assert cs["ready"] is False
                assert pod["status"]["phase"] == "Pending"
    assert {("waiting", "ErrImagePull"), ("waiting", "ImagePullBackOff")} <= reasons
    status = store.get("deployments", *key)["status"]  # type: ignore[index]
    assert (status["updatedReplicas"], status["availableReplicas"]) == (1, 3)
    assert _cond({"status": status}, "Progressing")["reason"] == "ReplicaSetUpdated"  # type: ignore[index]
    assert _cond({"status": status}, "Available")["status"] == "True"  # type: ignore[index]

    scenario.advance(deadline)
    timed_out = _cond(store.get("deployments", *key), "Progressing")  # type: ignore[arg-type]
    assert timed_out is not None
    assert (timed_out["status"], timed_out["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert timed_out["message"].endswith("has timed out progressing.")

    scenario.step("recover")
    scenario.advance(400)
    deployment = store.get("deployments", *key)
    assert deployment is not None
    progressing = _cond(deployment, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")  # type: ignore[index]
    assert deployment["status"]["availableReplicas"] == deployment["spec"]["replicas"]


def test_config_error_waits_with_create_container_config_error(
    cluster: tuple[ObjectStore, Scenario],
) -> None:
    store, scenario = cluster
    scenario.step("config_error")
    key = scenario.last_target
    assert key is not None
    scenario.advance(10)
    new_hash = _newest_rs(store, key)["metadata"]["labels"]["pod-template-hash"]
    stuck = [
        p
        for p in _owned_pods(store, key)
        if p["metadata"]["labels"]["pod-template-hash"] == new_hash
    ]
    assert stuck
    for pod in stuck:
        waiting = _main(pod)["state"]["waiting"]
        assert waiting["reason"] == "CreateContainerConfigError"
        assert waiting["message"] == f'configmap "{key[1]}-config-v2" not found'


def test_rollout_replaces_pods_stepwise_with_the_new_hash(
    cluster: tuple[ObjectStore, Scenario],
) -> None:
    store, scenario = cluster
    timeline: list[tuple[str, str, bool]] = []

    def record(event_type: str, resource: str, obj: Obj) -> None:
        if resource == "pods":
            ready = any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in obj["status"].get("conditions", ())
            )
            timeline.append((event_type, obj["metadata"]["labels"]["pod-template-hash"], ready))

    before = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d for d in store.list("deployments")
    }
    store.add_listener(record)
    assert scenario.step("rollout").startswith("rollout ")
    key = scenario.last_target
    assert key is not None
    scenario.advance(120)
    after = store.get("deployments", *key)
    assert after is not None
    new_rs = _newest_rs(store, key)
    new_hash = new_rs["metadata"]["labels"]["pod-template-hash"]
    pods = _owned_pods(store, key)
    assert len(pods) == 3
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {new_hash}
    assert all(_cond(p, "Ready")["status"] == "True" for p in pods)  # type: ignore[index]
    old = [
        rs for rs in store.list("replicasets", key[0]) if rs is not new_rs and _owner(rs) == key[1]
    ]
    assert all(
        rs["spec"]["replicas"] == 0
        for rs in old
        if rs["metadata"]["name"] != new_rs["metadata"]["name"]
    )
    status = after["status"]
    assert after["metadata"]["generation"] == before[key]["metadata"]["generation"] + 1
    assert status["observedGeneration"] == after["metadata"]["generation"]
    assert status["updatedReplicas"] == status["replicas"] == status["availableReplicas"] == 3
    progressing = _cond(after, "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"  # type: ignore[index]
    assert new_rs["metadata"]["name"] in progressing["message"]  # type: ignore[index]
    revision = int(after["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
    assert (
        revision
        == int(before[key]["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) + 1
    )
    # Stepwise: the first old pod goes only after a new one is ready (maxUnavailable 0 of 3).
    first_old_deleted = next(
        i for i, (t, h, _) in enumerate(timeline) if t == "DELETED" and h != new_hash
    )
    assert any(h == new_hash and ready for _, h, ready in timeline[:first_old_deleted])


def test_scaling_through_the_api_is_reconciled(cluster: tuple[ObjectStore, Scenario]) -> None:
    store, scenario = cluster
    key = next(iter(scenario.view.deployments))
    deployment = store.get("deployments", *key)
    assert deployment is not None
    deployment["spec"]["replicas"] = 5
    store.update("deployments", deployment)  # what `kubectl scale` does
    scenario.settle()
    scenario.advance(10)
    pods = [p for p in _owned_pods(store, key) if not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == 5
    status = store.get("deployments", *key)["status"]  # type: ignore[index]
    assert status["replicas"] == status["readyReplicas"] == 5
    deployment = store.get("deployments", *key)
    deployment["spec"]["replicas"] = 1  # type: ignore[index]
    store.update("deployments", deployment)  # type: ignore[arg-type]
    scenario.settle()
    scenario.advance(10)
    assert len(_owned_pods(store, key)) == 1
    assert store.get("deployments", *key)["status"]["replicas"] == 1  # type: ignore[index]


def test_a_deleted_pod_is_replaced(cluster: tuple[ObjectStore, Scenario]) -> None:
    store, scenario = cluster
    scenario.step("delete_pod")
    key = scenario.last_target
    assert key is not None
    scenario.advance(10)
    assert store.get("pods", *key) is None
    rs_name = key[1].rsplit("-", 1)[0]
    survivors = [
        p for p in store.list("pods", key[0]) if p["metadata"]["generateName"] == rs_name + "-"
    ]
    assert len(survivors) == 3
    assert all(_cond(p, "Ready")["status"] == "True" for p in survivors)  # type: ignore[index]


def test_cordon_marks_the_node_and_new_pods_avoid_it(cluster: tuple[ObjectStore, Scenario]) -> None:
    store, scenario = cluster
    assert scenario.step("cordon").startswith("cordon ")
    target = scenario.last_target
    assert target is not None
    node = store.get("nodes", None, target[1])
    assert node is not None
    assert node["spec"]["unschedulable"] is True
    assert {"effect": "NoSchedule", "key": "node.kubernetes.io/unschedulable"} in node["spec"][
        "taints"
    ]
    for key in list(scenario.view.deployments):
        deployment = store.get("deployments", *key)
        deployment["spec"]["replicas"] = 6  # type: ignore[index]
        store.update("deployments", deployment)  # type: ignore[arg-type]
    scenario.settle()
    scenario.advance(10)
    new_pods = [p for p in store.list("pods") if p["metadata"]["creationTimestamp"] >= "2025-03-01"]
    assert len(new_pods) >= 18
    assert all(p["spec"].get("nodeName") != target[1] for p in new_pods)
    scenario.step("recover")
    node = store.get("nodes", None, target[1])
    assert "unschedulable" not in node["spec"]  # type: ignore[index]
    assert "taints" not in node["spec"]  # type: ignore[index]


def test_node_not_ready_marks_pods_and_evicts_after_the_toleration(
    cluster: tuple[ObjectStore, Scenario],
) -> None:
    store, scenario = cluster
    assert scenario.step("node_not_ready").endswith("NotReady")
    name = scenario.last_target[1]  # type: ignore[index]
    node = store.get("nodes", None, name)
    ready = _cond(node, "Ready")  # type: ignore[arg-type]
    assert (ready["status"], ready["reason"]) == ("False", "KubeletNotReady")  # type: ignore[index]
    taints = {(t["key"], t["effect"]) for t in node["spec"]["taints"]}  # type: ignore[index]
    assert taints == {
        ("node.kubernetes.io/not-ready", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoExecute"),
    }
    on_node = [p for p in store.list("pods") if p["spec"].get("nodeName") == name]
    assert on_node
    assert all(_cond(p, "Ready")["status"] == "False" for p in on_node)  # type: ignore[index]
    scenario.advance(310)
    assert not [
        p
        for p in store.list("pods")
        if p["spec"].get("nodeName") == name and not p["metadata"].get("deletionTimestamp")
    ]
    assert scenario.counters["pods_evicted_by_taint"] == len(on_node)
    for key in scenario.view.deployments:
        status = store.get("deployments", *key)["status"]  # type: ignore[index]
        assert status.get("readyReplicas") == 3


def test_a_lost_node_goes_unknown_with_its_pods(cluster: tuple[ObjectStore, Scenario]) -> None:
    store, scenario = cluster
    assert scenario.step("node_lost").endswith("lost (Unknown)")
    name = scenario.last_target[1]  # type: ignore[index]
    node = store.get("nodes", None, name)
    for kind in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
        cond = _cond(node, kind)  # type: ignore[arg-type]
        assert (cond["status"], cond["reason"]) == ("Unknown", "NodeStatusUnknown")  # type: ignore[index]
    on_node = [p for p in store.list("pods") if p["spec"].get("nodeName") == name]
    assert on_node
    assert {p["status"]["phase"] for p in on_node} == {"Unknown"}
    assert {p["status"]["reason"] for p in on_node} == {"NodeLost"}
    scenario.step("recover")
    scenario.advance(5)
    back = [p for p in store.list("pods") if p["spec"].get("nodeName") == name]
    assert {p["status"]["phase"] for p in back} == {"Running"}
    assert all(_cond(p, "Ready")["status"] == "True" for p in back)  # type: ignore[index]
    assert _cond(store.get("nodes", None, name), "Ready")["status"] == "True"  # type: ignore[arg-type,index]


def test_node_pressure_sets_the_condition_taint_and_evicts(
    cluster: tuple[ObjectStore, Scenario],
) -> None:
    store, scenario = cluster
    for seed in range(1, 20):
        store, scenario = _make(seed)
        description = scenario.step("node_pressure")
        if "MemoryPressure" in description:
            break
    name = scenario.last_target[1]  # type: ignore[index]
    node = store.get("nodes", None, name)
    pressure = _cond(node, "MemoryPressure")  # type: ignore[arg-type]
    assert (pressure["status"], pressure["reason"]) == ("True", "KubeletHasInsufficientMemory")  # type: ignore[index]
    assert {"effect": "NoSchedule", "key": "node.kubernetes.io/memory-pressure"} in node["spec"][
        "taints"
    ]  # type: ignore[index]
    evicted = [p for p in store.list("pods") if p["status"].get("reason") == "Evicted"]
    assert evicted
    for pod in evicted:
        assert pod["status"]["phase"] == "Failed"
        assert pod["status"]["message"].startswith("The node was low on resource: memory.")
        assert _cond(pod, "DisruptionTarget")["reason"] == "TerminationByKubelet"  # type: ignore[index]
    scenario.advance(10)
    for key in scenario.view.deployments:
        assert store.get("deployments", *key)["status"].get("readyReplicas") == 3  # type: ignore[index]


def test_unschedulable_rollout_leaves_pending_pods(cluster: tuple[ObjectStore, Scenario]) -> None:
    store, scenario = cluster
    scenario.step("unschedulable")
    key = scenario.last_target
    assert key is not None
    scenario.advance(5)
    pending = [p for p in _owned_pods(store, key) if p["status"]["phase"] == "Pending"]
    assert len(pending) == 1
    (pod,) = pending
    assert "nodeName" not in pod["spec"]
    scheduled = _cond(pod, "PodScheduled")
    assert scheduled is not None
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert scheduled["message"].startswith("0/5 nodes are available: ")
    assert (
        "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"
        in scheduled["message"]
    )
    assert "preemption: 0/5 nodes are available" in scheduled["message"]


def test_exhausted_quota_shows_replica_failure(cluster: tuple[ObjectStore, Scenario]) -> None:
    store, scenario = cluster
    scenario.step("quota_exceeded")
    key = scenario.last_target
    assert key is not None
    deployment = store.get("deployments", *key)
    assert deployment is not None
    failure = _cond(deployment, "ReplicaFailure")
    assert failure is not None
    assert (failure["status"], failure["reason"]) == ("True", "FailedCreate")
    assert "exceeded quota" in failure["message"]
    assert deployment["status"]["unavailableReplicas"] == 2
    scenario.step("recover")
    scenario.advance(10)
    deployment = store.get("deployments", *key)
    assert deployment is not None
    assert _cond(deployment, "ReplicaFailure") is None
    assert deployment["status"]["readyReplicas"] == 5


def test_redeploy_collects_the_old_objects(cluster: tuple[ObjectStore, Scenario]) -> None:
    store, scenario = cluster
    description = scenario.step("redeploy")
    old = scenario.last_target
    assert old is not None
    scenario.advance(10)
    assert store.get("deployments", *old) is None
    assert not [rs for rs in store.list("replicasets", old[0]) if _owner(rs) == old[1]]
    assert not [
        p
        for p in store.list("pods", old[0])
        if p["metadata"]["generateName"].startswith(old[1] + "-")
    ]
    new_name = description.rsplit(", ", 1)[1].removesuffix(" created")
    status = store.get("deployments", old[0], new_name)["status"]  # type: ignore[index]
    assert status["readyReplicas"] == 3


def test_status_follows_pods_through_random_churn() -> None:
    store, scenario = _make(seed=11, deployments=8, nodes=6)
    for step in range(240):
        scenario.step()
        if step % 20:
            continue
        pods = store.list("pods")
        for rs in store.list("replicasets"):
            mine = [
                p
                for p in pods
                if p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
                and not p["metadata"].get("deletionTimestamp")
                and p["status"]["phase"] not in ("Succeeded", "Failed")
            ]
            ready = [p for p in mine if _cond(p, "Ready") and _cond(p, "Ready")["status"] == "True"]  # type: ignore[index]
            assert rs["status"]["replicas"] == len(mine), rs["metadata"]["name"]
            assert rs["status"].get("readyReplicas", 0) == len(ready)
            assert rs["status"]["observedGeneration"] == rs["metadata"]["generation"]
        for deployment in store.list("deployments"):
            owned = [
                rs
                for rs in store.list("replicasets", deployment["metadata"]["namespace"])
                if _owner(rs) == deployment["metadata"]["name"]
            ]
            status = deployment["status"]
            assert status["observedGeneration"] == deployment["metadata"]["generation"]
            assert status.get("replicas", 0) == sum(rs["status"]["replicas"] for rs in owned)
            assert status.get("readyReplicas", 0) == sum(
                rs["status"].get("readyReplicas", 0) for rs in owned
            )
        assert len(scenario.problems) <= scenario.churn.max_problems
    assert scenario.actions["recover"] > 0
    assert len(scenario.actions) >= 10


def test_unknown_churn_kind_is_refused(cluster: tuple[ObjectStore, Scenario]) -> None:
    _, scenario = cluster
    with pytest.raises(ValueError, match="unknown churn kind 'meteor'"):
        scenario.step("meteor")
    assert "recover" in CHURN_KINDS


def _owner(rs: Obj) -> str:
    return str(rs["metadata"]["ownerReferences"][0]["name"])


def _newest_rs(store: ObjectStore, key: tuple[str, str]) -> Obj:
    owned = [rs for rs in store.list("replicasets", key[0]) if _owner(rs) == key[1]]
    return max(
        owned,
        key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
    )


def test_a_deleted_pod_terminates_before_it_goes(cluster: tuple[ObjectStore, Scenario]) -> None:
    store, scenario = cluster
    seen: list[tuple[str, str, Obj]] = []
    store.add_listener(
        lambda kind, resource, obj: (
            seen.append((kind, obj["metadata"]["name"], obj)) if resource == "pods" else None
        )
    )
    scenario.step("delete_pod")
    key = scenario.last_target
    assert key is not None
    pod = store.get("pods", *key)
    assert pod is not None
    meta = pod["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 30
    assert meta["deletionTimestamp"] == scenario.clock.stamp(30)
    rs_name = key[1].rsplit("-", 1)[0]
    siblings = [
        p for p in store.list("pods", key[0]) if p["metadata"]["generateName"] == rs_name + "-"
    ]
    assert len(siblings) == 4  # the replacement is created while the old one terminates
    scenario.advance(5)
    assert store.get("pods", *key) is None
    mine = [(kind, obj) for kind, name, obj in seen if name == key[1]]
    assert [kind for kind, _ in mine] == ["MODIFIED", "MODIFIED", "DELETED"]
    assert mine[1][1]["status"]["phase"] == "Succeeded"  # the kubelet's last status
    final = mine[2][1]["metadata"]
    # The kubelet's grace-0 delete moved the deadline back to when it was asked for.
    assert final["deletionGracePeriodSeconds"] == 0
    assert final["deletionTimestamp"] < meta["deletionTimestamp"]


def test_pods_of_a_lost_node_stay_terminating_until_it_returns(
    cluster: tuple[ObjectStore, Scenario],
) -> None:
    store, scenario = cluster
    scenario.step("node_lost")
    name = scenario.last_target[1]  # type: ignore[index]
    scenario.advance(400)
    stuck = [p for p in store.list("pods") if p["spec"].get("nodeName") == name]
    assert stuck
    assert all(p["metadata"].get("deletionTimestamp") for p in stuck)
    assert {p["status"]["phase"] for p in stuck} == {"Unknown"}
    for key in scenario.view.deployments:
        assert store.get("deployments", *key)["status"]["readyReplicas"] == 3  # type: ignore[index]
    scenario.step("recover")
    scenario.advance(10)
    assert not [p for p in store.list("pods") if p["spec"].get("nodeName") == name]


def test_a_closed_scenario_no_longer_follows_the_store(
    cluster: tuple[ObjectStore, Scenario],
) -> None:
    store, scenario = cluster
    scenario.close()
    scenario.close()
    store.create("namespaces", {"metadata": {"name": "after-close"}})
    assert "after-close" not in scenario.view.namespaces


def test_every_node_condition_kind_comes_and_goes() -> None:
    """Across seeds the pressure action covers each condition, and recovery clears it."""
    seen = set()
    for seed in range(1, 40):
        store, scenario = _make(seed)
        description = scenario.step("node_pressure")
        name = scenario.last_target[1]  # type: ignore[index]
        kind = scenario.problems[-1].detail
        seen.add(kind)
        node = store.get("nodes", None, name)
        cond = _cond(node, kind)  # type: ignore[arg-type]
        assert cond["status"] == "True", description  # type: ignore[index]
        scenario.step("recover")
        node = store.get("nodes", None, name)
        assert _cond(node, kind)["status"] == "False"  # type: ignore[arg-type,index]
        assert not node["spec"].get("taints")  # type: ignore[index]
        if len(seen) == 4:
            break
    assert seen == {"MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"}
