"""The scenario's objects have the shapes a real v1.32 cluster serves.

Every object a churned cluster holds is validated against the Kubernetes 1.32
OpenAPI schema in strict mode (unknown fields fail), then the fields kubectl
and the agent rely on are spot-checked: ownership chains, labels, managedFields,
conditions, container statuses, node capacity and taints.
"""

from __future__ import annotations

import copy
import functools
import random
import re
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

from simulator.objects import (
    SAFE_ALPHABET,
    PodBlueprint,
    make_container,
    make_deployment,
    make_pod_template,
    make_replicaset,
    parse_cpu_millis,
    parse_memory_bytes,
    pod_template_hash,
    random_suffix,
    resolve_fenceposts,
)
from simulator.pod_states import (
    back_off_container,
    fail_container_config,
    fail_image_pull,
    mark_container_creating,
    mark_evicted,
    mark_sandbox_ready,
    mark_stopped_for_deletion,
    mark_unknown,
    mark_unschedulable,
    start_container,
    terminate_container,
)
from simulator.scenario import Scenario
from simulator.storage import ObjectStore
from simulator.virtual_clock import SimClock

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NOW = "2025-03-01T12:00:00Z"


def _cluster(seed: int = 3, steps: int = 0) -> tuple[ObjectStore, Scenario]:
    clock = SimClock(START)
    store = ObjectStore(clock=clock)
    scenario = Scenario(
        store,
        seed=seed,
        nodes=6,
        deployments=12,
        pods_per_deployment=3,
        namespaces=3,
        churn=2.0,
        clock=clock,
    )
    scenario.populate()
    for _ in range(steps):
        scenario.step()
    return store, scenario


@pytest.fixture(scope="module")
def churned() -> ObjectStore:
    store, _ = _cluster(steps=150)
    return store


@pytest.fixture(scope="module")
def fresh() -> ObjectStore:
    store, _ = _cluster()
    return store


@functools.cache
def _validator(kind: str, api_version: str) -> jsonschema.Draft202012Validator:
    """The strict v1.32 schema of a kind, loaded once (kubernetes_validate reloads per call)."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = "kubernetes-json-schema/v1.32.0-local-strict"
    schema = schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", "1.32.0")
    definitions = schema_contents(f"{folder}/_definitions.json", "1.32.0")
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate(obj: dict[str, Any]) -> None:
    _validator(obj["kind"], obj["apiVersion"]).validate(obj)


def test_validation_rejects_unknown_fields() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x"},
        "spec": {"containers": [{"name": "a", "image": "b", "bogus": 1}]},
    }
    with pytest.raises(jsonschema.ValidationError, match="bogus"):
        validate(pod)


def _cond(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


def test_every_object_validates_against_the_1_32_schema(churned: ObjectStore) -> None:
    checked = 0
    for resource in ("pods", "nodes", "deployments", "replicasets", "namespaces", "events"):
        for obj in churned.list(resource)[:200]:
            validate(obj)
            checked += 1
    assert checked > 100


def test_pod_state_helpers_produce_valid_pods() -> None:
    rs = _replicaset()
    pod = PodBlueprint(rs).new_pod(
        name="web-abc-xyz12", uid="u1", created=NOW, volume_suffix="k2x9p"
    )
    pod["spec"]["nodeName"] = "worker-01"
    mark_container_creating(pod, host_ip="172.16.0.11", now=NOW)
    mark_sandbox_ready(pod, pod_ip="10.64.1.7", now=NOW)
    variants = []
    start_container(pod, "web", now=NOW, container_id="containerd://" + "a" * 64, ready=True)
    variants.append(pod)
    for change in (
        lambda p: terminate_container(p, "web", now=NOW, reason="OOMKilled", exit_code=137),
        lambda p: back_off_container(p, "web", now=NOW, delay=40),
        lambda p: mark_evicted(p, now=NOW, message="The node was low on resource: memory. "),
        lambda p: mark_stopped_for_deletion(p, now=NOW),
        lambda p: mark_unknown(p, now=NOW, node="worker-01"),
        # What a graceful DELETE leaves on a pod (the store sets it).
        lambda p: p["metadata"].update(deletionTimestamp=NOW, deletionGracePeriodSeconds=30),
    ):
        changed = copy.deepcopy(pod)
        change(changed)
        variants.append(changed)
    for fresh_pod, change in (
        (copy.deepcopy(pod), lambda p: fail_image_pull(p, "web", now=NOW, back_off=True)),
        (copy.deepcopy(pod), lambda p: fail_container_config(p, "web", now=NOW, message="x")),
    ):
        fresh_pod["status"]["containerStatuses"][0].pop("containerID")
        change(fresh_pod)
        variants.append(fresh_pod)
    unscheduled = PodBlueprint(rs).new_pod(
        name="web-abc-q", uid="u2", created=NOW, volume_suffix="b"
    )
    mark_unschedulable(unscheduled, now=NOW, message="0/3 nodes are available: 3 Insufficient cpu.")
    variants.append(unscheduled)
    for variant in variants:
        validate(variant)


def test_pod_ownership_labels_and_names(fresh: ObjectStore) -> None:
    replicasets = {rs["metadata"]["uid"]: rs for rs in fresh.list("replicasets")}
    deployments = {d["metadata"]["uid"]: d for d in fresh.list("deployments")}
    pods = fresh.list("pods")
    assert len(pods) == 36
    for pod in pods:
        meta = pod["metadata"]
        (ref,) = meta["ownerReferences"]
        assert ref["kind"] == "ReplicaSet"
        assert ref["controller"] is True
        assert ref["blockOwnerDeletion"] is True
        rs = replicasets[ref["uid"]]
        assert ref["name"] == rs["metadata"]["name"]
        template_hash = rs["metadata"]["labels"]["pod-template-hash"]
        assert meta["labels"]["pod-template-hash"] == template_hash
        assert meta["generateName"] == rs["metadata"]["name"] + "-"
        assert re.fullmatch(
            rf"{re.escape(rs['metadata']['name'])}-[{SAFE_ALPHABET}]{{5}}", meta["name"]
        )
        (rs_ref,) = rs["metadata"]["ownerReferences"]
        deployment = deployments[rs_ref["uid"]]
        assert rs["metadata"]["name"] == f"{deployment['metadata']['name']}-{template_hash}"
        managers = [(m["manager"], m.get("subresource")) for m in meta["managedFields"]]
        assert managers == [("kube-controller-manager", None), ("kubelet", "status")]


def test_running_pod_spec_and_status(fresh: ObjectStore) -> None:
    nodes = {n["metadata"]["name"]: n for n in fresh.list("nodes")}
    for pod in fresh.list("pods"):
        spec, status = pod["spec"], pod["status"]
        node = nodes[spec["nodeName"]]
        assert "node-role.kubernetes.io/control-plane" not in node["metadata"]["labels"]
        (volume,) = spec["volumes"]
        assert volume["name"].startswith("kube-api-access-")
        assert [s for s in volume["projected"]["sources"] if "serviceAccountToken" in s]
        assert {t["key"] for t in spec["tolerations"]} == {
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        }
        for container in spec["containers"]:
            assert container["resources"]["requests"]["cpu"]
            assert container["volumeMounts"][0]["name"] == volume["name"]
        assert status["phase"] == "Running"
        assert [c["type"] for c in status["conditions"]] == [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ]
        assert all(c["status"] == "True" for c in status["conditions"])
        assert status["hostIP"] == next(
            a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"
        )
        assert status["podIP"].startswith(node["spec"]["podCIDR"].rsplit(".", 1)[0] + ".")
        assert status["podIPs"] == [{"ip": status["podIP"]}]
        assert status["qosClass"] in ("Guaranteed", "Burstable")
        assert status["startTime"]
        for cs in status["containerStatuses"]:
            assert cs["ready"] is True
            assert cs["started"] is True
            assert cs["containerID"].startswith("containerd://")
            assert "@sha256:" in cs["imageID"]
            assert "running" in cs["state"]
            if cs["restartCount"]:
                assert cs["lastState"]["terminated"]["reason"] in ("Error", "OOMKilled")


def test_nodes_look_like_kubelet_registered_them(fresh: ObjectStore) -> None:
    nodes = fresh.list("nodes")
    assert len(nodes) == 6
    control_plane = [
        n for n in nodes if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"]
    ]
    assert len(control_plane) == 3
    for node in nodes:
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == node["metadata"]["name"]
        assert labels["topology.kubernetes.io/zone"].startswith("us-east-1")
        status = node["status"]
        assert status["capacity"]["cpu"] == "8"
        assert status["capacity"]["memory"] == "32827152Ki"
        assert status["capacity"]["pods"] == "110"
        assert "ephemeral-storage" in status["allocatable"]
        assert status["nodeInfo"]["kubeletVersion"].startswith("v1.32.")
        assert status["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
        assert {a["type"] for a in status["addresses"]} == {"InternalIP", "Hostname"}
        reasons = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
        assert reasons == {
            "NetworkUnavailable": ("False", "CalicoIsUp"),
            "MemoryPressure": ("False", "KubeletHasSufficientMemory"),
            "DiskPressure": ("False", "KubeletHasNoDiskPressure"),
            "PIDPressure": ("False", "KubeletHasSufficientPID"),
            "Ready": ("True", "KubeletReady"),
        }
        assert all(c["lastHeartbeatTime"] and c["lastTransitionTime"] for c in status["conditions"])
    for node in control_plane:
        assert node["spec"]["taints"] == [
            {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}
        ]


def test_settled_deployment_status(fresh: ObjectStore) -> None:
    for deployment in fresh.list("deployments"):
        spec, status = deployment["spec"], deployment["status"]
        assert spec["strategy"]["type"] == "RollingUpdate"
        assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
        for field in ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas"):
            assert status[field] == spec["replicas"] == 3
        assert "unavailableReplicas" not in status
        assert status["observedGeneration"] == deployment["metadata"]["generation"]
        available = _cond(deployment, "Available")
        assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")
        progressing = _cond(deployment, "Progressing")
        assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
        assert progressing["message"].endswith("has successfully progressed.")
        revision = deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        assert int(revision) >= 1


def test_pod_template_hash_is_stable_and_safe() -> None:
    template = _template("nginx:1.27.3")
    first = pod_template_hash(template)
    assert first == pod_template_hash(_template("nginx:1.27.3"))
    assert first != pod_template_hash(_template("nginx:1.27.4"))
    assert first != pod_template_hash(template, collision_count=1)
    assert set(first) <= set("456789bcdf")
    assert 1 <= len(first) <= 10


def test_names_quantities_and_fenceposts() -> None:
    rng = random.Random(1)
    suffixes = {random_suffix(rng) for _ in range(200)}
    assert len(suffixes) == 200
    assert all(len(s) == 5 and set(s) <= set(SAFE_ALPHABET) for s in suffixes)
    assert parse_cpu_millis("250m") == 250
    assert parse_cpu_millis("2") == 2000
    assert parse_cpu_millis("0.1") == 100
    assert parse_memory_bytes("128Mi") == 128 * 2**20
    assert parse_memory_bytes("32827152Ki") == 32827152 * 1024
    assert parse_memory_bytes("1G") == 10**9
    with pytest.raises(ValueError, match="not a CPU quantity"):
        parse_cpu_millis("lots")
    rolling = {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert resolve_fenceposts(rolling, 3) == (1, 0)
    assert resolve_fenceposts(rolling, 10) == (3, 2)
    assert resolve_fenceposts({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}, 5) == (0, 1)


def _template(image: str) -> dict[str, Any]:
    container = make_container(
        name="web",
        image=image,
        cpu_request="100m",
        memory_request="128Mi",
        cpu_limit=None,
        memory_limit="256Mi",
        port=8080,
    )
    return make_pod_template(labels={"app": "web"}, containers=[container])


def _replicaset() -> dict[str, Any]:
    deployment = make_deployment(
        namespace="default",
        name="web",
        uid="d1",
        created=NOW,
        replicas=2,
        template=_template("nginx:1.27.3"),
    )
    template_hash = pod_template_hash(deployment["spec"]["template"])
    return make_replicaset(
        deployment=deployment,
        template_hash=template_hash,
        replicas=2,
        revision=1,
        uid="r1",
        created=NOW,
    )
