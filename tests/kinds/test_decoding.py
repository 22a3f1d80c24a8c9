"""Normalization of each kind, including every branch of kubectl's STATUS column."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinds import KINDS
from kinds import deployment as deployments
from kinds import node as nodes
from kinds import pod as pods
from kinds import replicaset as replicasets
from kinds.meta import KubeObject, ObjectList, WatchEvent

TS = "2026-01-01T00:00:00Z"


def decode(obj: dict[str, Any]) -> KubeObject:
    return msgspec.json.decode(msgspec.json.encode(obj), type=KubeObject)


def waiting(reason: str | None = None) -> dict[str, Any]:
    return {"waiting": {"reason": reason} if reason else {}}


def terminated(code: int = 0, reason: str | None = None, signal: int = 0) -> dict[str, Any]:
    t: dict[str, Any] = {"exitCode": code, "finishedAt": TS}
    if reason:
        t["reason"] = reason
    if signal:
        t["signal"] = signal
    return {"terminated": t}


RUNNING = {"running": {"startedAt": TS}}


def cs(name: str, state: dict[str, Any], *, ready: bool = False, **extra: Any) -> dict[str, Any]:
    return {"name": name, "state": state, "ready": ready, "restartCount": 0, **extra}


def pod(
    *,
    phase: str = "Running",
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    init_specs: list[dict[str, Any]] | None = None,
    conditions: dict[str, str] | None = None,
    reason: str | None = None,
    deleting: bool = False,
    **status_extra: Any,
) -> KubeObject:
    containers = containers if containers is not None else [cs("app", RUNNING, ready=True)]
    init = init or []
    spec: dict[str, Any] = {"containers": [{"name": c["name"]} for c in containers]}
    if init or init_specs:
        spec["initContainers"] = init_specs or [{"name": c["name"]} for c in init]
    status: dict[str, Any] = {
        "phase": phase,
        "containerStatuses": containers,
        "conditions": [{"type": t, "status": s} for t, s in (conditions or {}).items()],
        **status_extra,
    }
    if init:
        status["initContainerStatuses"] = init
    if reason:
        status["reason"] = reason
    meta: dict[str, Any] = {"name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "7"}
    if deleting:
        meta["deletionTimestamp"] = TS
    return decode({"metadata": meta, "spec": spec, "status": status})


def status_of(obj: KubeObject) -> str:
    return pods.normalize(obj).status


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (pod(phase="Pending", containers=[]), "Pending"),
        (pod(), "Running"),
        (
            pod(phase="Pending", containers=[cs("app", waiting("ContainerCreating"))]),
            "ContainerCreating",
        ),
        (pod(containers=[cs("app", waiting("CrashLoopBackOff"))]), "CrashLoopBackOff"),
        (
            pod(phase="Pending", containers=[cs("app", waiting("ImagePullBackOff"))]),
            "ImagePullBackOff",
        ),
        (pod(phase="Pending", containers=[cs("app", waiting("ErrImagePull"))]), "ErrImagePull"),
        (
            pod(phase="Pending", containers=[cs("app", waiting("CreateContainerConfigError"))]),
            "CreateContainerConfigError",
        ),
        (pod(containers=[cs("app", terminated(137, "OOMKilled"))]), "OOMKilled"),
        (pod(phase="Failed", containers=[cs("app", terminated(1, "Error"))]), "Error"),
        (pod(containers=[cs("app", terminated(3))]), "ExitCode:3"),
        (pod(containers=[cs("app", terminated(137, signal=9))]), "Signal:9"),
        (pod(phase="Succeeded", containers=[cs("app", terminated(0, "Completed"))]), "Completed"),
        # A container waiting with no reason does not change the phase-derived status.
        (pod(phase="Pending", containers=[cs("app", waiting())]), "Pending"),
        # The first container (in spec order) wins: kubectl walks them backwards.
        (
            pod(
                containers=[cs("a", waiting("CrashLoopBackOff")), cs("b", waiting("ErrImagePull"))]
            ),
            "CrashLoopBackOff",
        ),
        # Completed while another container still runs: Running or NotReady by Ready.
        (
            pod(
                containers=[cs("a", terminated(0, "Completed")), cs("b", RUNNING, ready=True)],
                conditions={"Ready": "True"},
            ),
            "Running",
        ),
        (
            pod(
                containers=[cs("a", terminated(0, "Completed")), cs("b", RUNNING, ready=True)],
                conditions={"Ready": "False"},
            ),
            "NotReady",
        ),
        # Init containers.
        (
            pod(
                phase="Pending",
                containers=[cs("app", waiting("PodInitializing"))],
                init=[cs("i1", waiting("PodInitializing")), cs("i2", waiting())],
            ),
            "Init:0/2",
        ),
        (
            pod(
                phase="Pending",
                containers=[cs("app", waiting("PodInitializing"))],
                init=[cs("i1", terminated(0, "Completed")), cs("i2", RUNNING)],
            ),
            "Init:1/2",
        ),
        (
            pod(
                phase="Pending",
                containers=[cs("app", waiting("PodInitializing"))],
                init=[cs("i1", waiting("CrashLoopBackOff"))],
            ),
            "Init:CrashLoopBackOff",
        ),
        (
            pod(
                phase="Pending",
                containers=[cs("app", waiting("PodInitializing"))],
                init=[cs("i1", terminated(1, "Error"))],
            ),
            "Init:Error",
        ),
        (pod(phase="Pending", containers=[], init=[cs("i1", terminated(2))]), "Init:ExitCode:2"),
        (
            pod(phase="Pending", containers=[], init=[cs("i1", terminated(1, signal=15))]),
            "Init:Signal:15",
        ),
        # A started sidecar (restartable init container) does not hold initialization.
        (
            pod(
                init=[cs("side", RUNNING, ready=True, started=True)],
                init_specs=[{"name": "side", "restartPolicy": "Always"}],
                conditions={"Initialized": "True", "Ready": "True"},
            ),
            "Running",
        ),
        (
            pod(
                phase="Pending",
                containers=[cs("app", waiting("PodInitializing"))],
                init=[cs("side", waiting("ContainerCreating"), started=False)],
                init_specs=[{"name": "side", "restartPolicy": "Always"}],
            ),
            "Init:ContainerCreating",
        ),
        # Initialized already True: app containers are looked at too, and win if they say so.
        (
            pod(init=[cs("i1", terminated(1, "Error"))], conditions={"Initialized": "True"}),
            "Init:Error",
        ),
        (
            pod(
                init=[cs("i1", terminated(1, "Error"))],
                containers=[cs("app", waiting("CrashLoopBackOff"))],
                conditions={"Initialized": "True"},
            ),
            "CrashLoopBackOff",
        ),
        # Deletion.
        (pod(deleting=True), "Terminating"),
        (pod(deleting=True, reason="NodeLost"), "Unknown"),
        (
            pod(phase="Succeeded", deleting=True, containers=[cs("a", terminated(0, "Completed"))]),
            "Completed",
        ),
        (pod(phase="Failed", reason="Evicted", containers=[]), "Evicted"),
    ],
)
def test_pod_status_matches_kubectl(obj: KubeObject, expected: str) -> None:
    assert status_of(obj) == expected


def test_pod_scheduling_gated_and_unschedulable() -> None:
    gated = decode(
        {
            "metadata": {"name": "g", "uid": "u"},
            "status": {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                ],
            },
        }
    )
    assert status_of(gated) == "SchedulingGated"
    unsched = decode(
        {
            "metadata": {"name": "s", "uid": "u"},
            "status": {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/3 nodes are available",
                    }
                ],
            },
        }
    )
    row = pods.normalize(unsched)
    assert (row.status, row.unschedulable) == ("Pending", True)
    assert row.conditions["PodScheduled"].message == "0/3 nodes are available"


def test_pod_row_fields_units_and_trimmed_object() -> None:
    raw = {
        "metadata": {
            "name": "web-5d4f8-abcde",
            "namespace": "shop",
            "uid": "uid-1",
            "resourceVersion": "42",
            "creationTimestamp": TS,
            "labels": {"app": "web", "pod-template-hash": "5d4f8"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-5d4f8",
                    "uid": "rs",
                    "controller": True,
                }
            ],
            "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}],
        },
        "spec": {
            "nodeName": "node-1",
            "initContainers": [
                {"name": "init", "image": "busybox", "resources": {"requests": {"cpu": "1"}}}
            ],
            "containers": [
                {
                    "name": "web",
                    "image": "nginx",
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"cpu": "0.5", "memory": "1G"},
                    },
                },
                {
                    "name": "log",
                    "image": "fluent",
                    "resources": {"requests": {"cpu": "250m", "memory": "bogus"}},
                },
            ],
            "volumes": [{"name": "v", "emptyDir": {}}],
        },
        "status": {
            "phase": "Running",
            "qosClass": "Burstable",
            "podIP": "10.0.0.9",
            "hostIP": "192.168.1.1",
            "startTime": TS,
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": TS}],
            "initContainerStatuses": [cs("init", terminated(0, "Completed"), restartCount=0)],
            "containerStatuses": [
                {
                    "name": "web",
                    "ready": True,
                    "started": True,
                    "restartCount": 3,
                    "state": RUNNING,
                    "lastState": {
                        "terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": TS}
                    },
                },
                {"name": "log", "ready": True, "restartCount": 1, "state": RUNNING},
            ],
        },
    }
    row = pods.normalize(decode(raw))
    assert (row.namespace, row.name, row.uid, row.resource_version) == (
        "shop",
        "web-5d4f8-abcde",
        "uid-1",
        "42",
    )
    assert (row.node, row.owner_kind, row.owner_name, row.deployment) == (
        "node-1",
        "ReplicaSet",
        "web-5d4f8",
        "web",
    )
    assert (row.phase, row.ready, row.status, row.qos_class) == (
        "Running",
        True,
        "Running",
        "Burstable",
    )
    assert (row.pod_ip, row.host_ip) == ("10.0.0.9", "192.168.1.1")
    assert row.restarts == 4  # app containers only
    assert row.cpu_request_m == 350
    assert row.cpu_limit_m == 500
    assert row.memory_request_bytes == 128 * 2**20  # the bogus quantity counts as unknown
    assert row.memory_limit_bytes == 10**9
    init, web, logc = row.containers
    assert init.init
    assert init.state == "terminated"
    assert init.cpu_request_m == 1000
    assert web.last_terminated_reason == "OOMKilled"
    assert web.last_terminated_exit_code == 137
    assert web.state == "running"
    assert web.restarts == 3
    assert web.started
    assert logc.memory_request_bytes is None
    trimmed = msgspec.json.decode(row.obj)
    assert "managedFields" not in trimmed["metadata"]
    assert trimmed["kind"] == "Pod"
    assert trimmed["apiVersion"] == "v1"
    expected = {**raw, "kind": "Pod", "apiVersion": "v1"}
    del expected["metadata"]["managedFields"]  # type: ignore[attr-defined]
    assert trimmed == expected


def test_pod_without_hash_or_owner_has_no_derived_deployment() -> None:
    bare = decode(
        {
            "metadata": {
                "name": "x",
                "uid": "u",
                "ownerReferences": [
                    {"kind": "ReplicaSet", "name": "custom-rs", "uid": "r", "controller": True}
                ],
            }
        }
    )
    assert pods.normalize(bare).deployment is None
    job = decode(
        {
            "metadata": {
                "name": "x",
                "uid": "u",
                "labels": {"pod-template-hash": "h"},
                "ownerReferences": [{"kind": "Job", "name": "j-h", "controller": True}],
            }
        }
    )
    row = pods.normalize(job)
    assert (row.owner_kind, row.deployment) == ("Job", None)


def node(conditions: dict[str, str], *, unschedulable: bool = False, **meta: Any) -> KubeObject:
    return decode(
        {
            "metadata": {"name": "n1", "uid": "nu", "resourceVersion": "3", **meta},
            "spec": {"unschedulable": unschedulable} if unschedulable else {},
            "status": {"conditions": [{"type": t, "status": s} for t, s in conditions.items()]},
        }
    )


@pytest.mark.parametrize(
    ("conditions", "unschedulable", "expected"),
    [
        ({"Ready": "True"}, False, "Ready"),
        ({"Ready": "False"}, False, "NotReady"),
        ({"Ready": "Unknown"}, False, "NotReady"),
        ({}, False, "Unknown"),
        ({"MemoryPressure": "True"}, False, "Unknown"),
        ({"Ready": "True"}, True, "Ready,SchedulingDisabled"),
        ({"Ready": "Unknown"}, True, "NotReady,SchedulingDisabled"),
        ({}, True, "Unknown,SchedulingDisabled"),
    ],
)
def test_node_status_matches_kubectl(
    conditions: dict[str, str], unschedulable: bool, expected: str
) -> None:
    row = nodes.normalize(node(conditions, unschedulable=unschedulable))
    assert row.status == expected
    assert row.ready == conditions.get("Ready", "Unknown")
    assert row.unschedulable is unschedulable


def test_node_row_fields() -> None:
    obj = decode(
        {
            "metadata": {
                "name": "cp-1",
                "uid": "n",
                "resourceVersion": "9",
                "labels": {
                    "node-role.kubernetes.io/control-plane": "",
                    "node-role.kubernetes.io/": "x",
                    "kubernetes.io/role": "master",
                    "zone": "a",
                },
            },
            "spec": {
                "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
            },
            "status": {
                "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "allocatable": {"cpu": "3800m", "memory": "15Gi", "pods": "110"},
                "nodeInfo": {
                    "kubeletVersion": "v1.32.0",
                    "osImage": "Ubuntu",
                    "kernelVersion": "6.8",
                    "containerRuntimeVersion": "containerd://2",
                },
                "addresses": [
                    {"type": "Hostname", "address": "cp-1"},
                    {"type": "InternalIP", "address": "10.1.0.1"},
                ],
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {
                        "type": "DiskPressure",
                        "status": "False",
                        "reason": "KubeletHasNoDiskPressure",
                    },
                ],
            },
        }
    )
    row = nodes.normalize(obj)
    assert row.roles == ("control-plane", "master")
    assert row.taints[0].effect == "NoSchedule"
    assert (row.cpu_capacity_m, row.cpu_allocatable_m) == (4000, 3800)
    assert (row.memory_capacity_bytes, row.memory_allocatable_bytes) == (16 * 2**30, 15 * 2**30)
    assert (row.pods_capacity, row.pods_allocatable) == (110, 110)
    assert (row.kubelet_version, row.container_runtime, row.internal_ip) == (
        "v1.32.0",
        "containerd://2",
        "10.1.0.1",
    )
    assert row.conditions["DiskPressure"].reason == "KubeletHasNoDiskPressure"
    assert row.namespace == ""
    assert msgspec.json.decode(row.obj)["kind"] == "Node"


def deployment(
    *,
    desired: int = 3,
    generation: int = 2,
    paused: bool = False,
    conditions: dict[str, tuple[str, str]] | None = None,
    **status: int,
) -> KubeObject:
    st_: dict[str, Any] = {
        "observedGeneration": 2,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    st_.update(status)
    conds = (
        conditions
        if conditions is not None
        else {
            "Available": ("True", "MinimumReplicasAvailable"),
            "Progressing": ("True", "NewReplicaSetAvailable"),
        }
    )
    st_["conditions"] = [{"type": t, "status": s, "reason": r} for t, (s, r) in conds.items()]
    return decode(
        {
            "metadata": {
                "name": "web",
                "namespace": "shop",
                "uid": "d",
                "resourceVersion": "5",
                "generation": generation,
            },
            "spec": {
                "replicas": desired,
                "paused": paused,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate"},
            },
            "status": st_,
        }
    )


ROLLING = {
    "Available": ("True", "MinimumReplicasAvailable"),
    "Progressing": ("True", "ReplicaSetUpdated"),
}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (deployment(), "Available"),
        (
            deployment(
                conditions={
                    "Progressing": ("False", "ProgressDeadlineExceeded"),
                    "Available": ("False", "MinimumReplicasUnavailable"),
                },
                availableReplicas=0,
            ),
            "ProgressDeadlineExceeded",
        ),
        (
            deployment(
                conditions={"ReplicaFailure": ("True", "FailedCreate"), "Available": ("True", "x")}
            ),
            "ReplicaFailure",
        ),
        (deployment(paused=True, updatedReplicas=1), "Paused"),
        # Rollouts, by kubectl rollout status's rules.
        (deployment(generation=3), "Progressing"),
        (deployment(updatedReplicas=1, conditions=ROLLING), "Progressing"),
        (deployment(replicas=4, conditions=ROLLING), "Progressing"),
        (deployment(availableReplicas=2, conditions=ROLLING), "Progressing"),
        # After a completed rollout, lost pods are not a rollout.
        (deployment(availableReplicas=2, readyReplicas=2), "Degraded"),
        (
            deployment(
                conditions={
                    "Available": ("False", "MinimumReplicasUnavailable"),
                    "Progressing": ("True", "NewReplicaSetAvailable"),
                },
                availableReplicas=1,
                readyReplicas=1,
            ),
            "Unavailable",
        ),
        (
            deployment(
                conditions={"Progressing": ("True", "NewReplicaSetAvailable")},
                availableReplicas=0,
                readyReplicas=0,
            ),
            "Unavailable",
        ),
        (
            deployment(
                desired=0, replicas=0, updatedReplicas=0, availableReplicas=0, readyReplicas=0
            ),
            "Available",
        ),
    ],
)
def test_deployment_status(obj: KubeObject, expected: str) -> None:
    assert deployments.normalize(obj).status == expected


def test_deployment_row_fields() -> None:
    row = deployments.normalize(deployment(unavailableReplicas=1, readyReplicas=2))
    assert (row.replicas, row.ready_replicas, row.unavailable_replicas, row.status_replicas) == (
        3,
        2,
        1,
        3,
    )
    assert (row.generation, row.observed_generation, row.strategy) == (2, 2, "RollingUpdate")
    assert row.selector == {"app": "web"}
    assert row.conditions["Progressing"].reason == "NewReplicaSetAvailable"


def test_replicaset_link() -> None:
    obj = decode(
        {
            "metadata": {
                "name": "web-5d4f8",
                "namespace": "shop",
                "uid": "r",
                "resourceVersion": "1",
                "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}],
            }
        }
    )
    assert replicasets.normalize(obj).deployment == "web"
    orphan = decode({"metadata": {"name": "solo", "namespace": "shop", "uid": "r2"}})
    assert replicasets.normalize(orphan).deployment is None


def test_registry_paths() -> None:
    assert KINDS["pods"].resource.path() == "/api/v1/pods"
    assert KINDS["pods"].resource.path("a") == "/api/v1/namespaces/a/pods"
    assert KINDS["deployments"].resource.path("a") == "/apis/apps/v1/namespaces/a/deployments"
    assert KINDS["nodes"].resource.path("a") == "/api/v1/nodes"  # cluster-scoped
    assert {k for k, s in KINDS.items() if s.store_kind is None} == {"replicasets"}


def test_watch_error_event_and_list_decode() -> None:
    err = msgspec.json.decode(
        b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},'
        b'"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired",'
        b'"code":410}}',
        type=WatchEvent,
    )
    assert (err.object.code, err.object.reason) == (410, "Expired")
    page = msgspec.json.decode(
        b'{"kind":"PodList","metadata":{"resourceVersion":"9","continue":"tok"},'
        b'"items":[{"metadata":{"name":"a","uid":"1"}}]}',
        type=ObjectList,
    )
    assert (page.metadata.resource_version, page.metadata.continue_) == ("9", "tok")
    assert pods.normalize(page.items[0]).name == "a"


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5))
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(
    spec=st.dictionaries(st.sampled_from(["x", "y", "nodeName2"]), json_value, max_size=3),
    status=st.dictionaries(st.sampled_from(["a", "b"]), json_value, max_size=2),
    annotations=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
def test_trimmed_object_keeps_spec_and_status_verbatim(
    spec: dict[str, Any], status: dict[str, Any], annotations: dict[str, str]
) -> None:
    raw = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "n",
            "uid": "u",
            "annotations": annotations,
            "managedFields": [{"manager": "m"}],
        },
        "spec": spec,
        "status": status,
    }
    row = nodes.normalize(decode(raw))
    out = msgspec.json.decode(row.obj)
    del raw["metadata"]["managedFields"]  # type: ignore[attr-defined]
    assert out == raw
