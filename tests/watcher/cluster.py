"""Small, explicit cluster objects and checks for the watcher tests.

The scenario engine builds realistic clusters; these helpers build the few
objects a test scripts by hand, so that each test says exactly which change
it makes and which row it expects.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kinds import KINDS
from kinds.meta import KubeObject
from simulator.server import Simulator
from store.model import Kind, Row

PLURAL = {Kind.POD: "pods", Kind.DEPLOYMENT: "deployments", Kind.NODE: "nodes"}


def ensure_namespace(sim: Simulator, name: str) -> None:
    if sim.store.get("namespaces", None, name) is None:
        sim.store.create("namespaces", {"metadata": {"name": name}})


def make_pod(
    name: str,
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    owner: tuple[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or {}}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": "owner-uid",
                "controller": True,
            }
        ]
    return {
        "metadata": meta,
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.27",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }
            ]
        },
    }


def set_pod_state(
    sim: Simulator,
    name: str,
    *,
    namespace: str = "default",
    phase: str = "Running",
    ready: bool = True,
    waiting: str | None = None,
    restarts: int = 0,
) -> None:
    pod = sim.store.get("pods", namespace, name)
    assert pod is not None, f"no pod {namespace}/{name}"
    state: dict[str, Any] = (
        {"waiting": {"reason": waiting}}
        if waiting
        else {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    )
    pod["status"] = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [
            {
                "name": "app",
                "ready": ready,
                "restartCount": restarts,
                "image": "nginx:1.27",
                "state": state,
            }
        ],
    }
    sim.store.update("pods", pod, subresource="status")


def make_node(name: str, *, ready: str = "True") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": ready}],
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        },
    }


def set_node_ready(sim: Simulator, name: str, ready: str) -> None:
    node = sim.store.get("nodes", None, name)
    assert node is not None
    node["status"]["conditions"] = [{"type": "Ready", "status": ready}]
    sim.store.update("nodes", node, subresource="status")


def make_deployment(name: str, *, namespace: str = "default", replicas: int = 2) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }


def make_replicaset(
    name: str, *, deployment: str | None, namespace: str = "default"
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {"app": "x"}}
    if deployment is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": deployment,
                "uid": "d-uid",
                "controller": True,
            }
        ]
    return {
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }


def expected_rows(
    sim: Simulator, kind: Kind, *, namespaces: set[str] | None = None
) -> dict[str, Row]:
    """What the store must hold for `kind`: the simulator's objects, normalized."""
    spec = KINDS[PLURAL[kind]]
    out: dict[str, Row] = {}
    for entry in sim.store.entries(PLURAL[kind]):
        obj = msgspec.json.decode(entry.raw, type=KubeObject)
        if namespaces is not None and (obj.metadata.namespace or "") not in namespaces:
            continue
        row = spec.normalize(obj)
        out[row.uid] = row
    return out


# The columns a status comparison covers: everything a query or analyzer reads.
STATUS_COLUMNS: dict[Kind, tuple[str, ...]] = {
    Kind.POD: (
        "namespace",
        "name",
        "resource_version",
        "phase",
        "ready",
        "status",
        "reason",
        "node",
        "restarts",
        "deletion_at",
        "unschedulable",
        "containers",
        "conditions",
    ),
    Kind.DEPLOYMENT: (
        "namespace",
        "name",
        "resource_version",
        "status",
        "replicas",
        "ready_replicas",
        "available_replicas",
        "updated_replicas",
        "unavailable_replicas",
        "observed_generation",
        "generation",
        "conditions",
        "paused",
    ),
    Kind.NODE: (
        "name",
        "resource_version",
        "status",
        "ready",
        "unschedulable",
        "conditions",
        "taints",
    ),
}


def differences(expected: dict[str, Row], actual: dict[str, Any], kind: Kind) -> list[str]:
    """Human-readable differences between expected rows and what a sink or store holds."""
    out: list[str] = []
    for uid in expected.keys() - actual.keys():
        out.append(f"missing {kind} {expected[uid].name}")
    for uid in actual.keys() - expected.keys():
        out.append(f"extra {kind} uid {uid}")
    for uid in expected.keys() & actual.keys():
        want, have = expected[uid], actual[uid]
        for column in STATUS_COLUMNS[kind]:
            if getattr(want, column) != _get(have, column):
                out.append(
                    f"{kind} {want.name}.{column}: {_get(have, column)!r} != "
                    f"{getattr(want, column)!r}"
                )
    return out


def _get(row: Any, column: str) -> Any:
    return row[column] if isinstance(row, dict) else getattr(row, column)
