"""Rows shaped like a real cluster's objects after the watcher normalizes them.

Each builder starts from a healthy object and takes keyword overrides, so a
test states only what is special about its object (a crash-looping container,
a node under memory pressure...). Values follow what the API server and the
kubelet actually write: reasons, messages, condition sets, restart counts.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from store import Condition, ContainerRow, DeploymentRow, NodeRow, PodRow

T0 = "2024-05-01T10:00:00Z"
_rv = itertools.count(1000)


def rv() -> str:
    return str(next(_rv))


def container(name: str = "app", **kw: Any) -> ContainerRow:
    base: dict[str, Any] = {
        "name": name,
        "image": f"registry.example.com/{name}:1.4.2",
        "ready": True,
        "started": True,
        "state": "running",
        "cpu_request_m": 250,
        "cpu_limit_m": 500,
        "memory_request_bytes": 256 * 2**20,
        "memory_limit_bytes": 512 * 2**20,
    }
    base.update(kw)
    return ContainerRow(**base)


def crash_looping(name: str = "app", restarts: int = 5, **kw: Any) -> ContainerRow:
    return container(
        name,
        ready=False,
        started=False,
        state="waiting",
        restarts=restarts,
        waiting_reason="CrashLoopBackOff",
        waiting_message=f"back-off 2m40s restarting failed container={name} pod=web-1_shop(uid)",
        last_terminated_reason="Error",
        last_terminated_exit_code=1,
        last_terminated_at="2024-05-01T10:04:00Z",
        **kw,
    )


def pod(name: str = "web-7d9f8b6c5-x2x4q", namespace: str = "shop", **kw: Any) -> PodRow:
    containers = kw.pop("containers", (container(),))
    app = [c for c in containers if not c.init]
    base: dict[str, Any] = {
        "uid": f"uid-pod-{namespace}-{name}",
        "namespace": namespace,
        "name": name,
        "resource_version": rv(),
        "created_at": T0,
        "labels": {"app": "web", "pod-template-hash": "7d9f8b6c5"},
        "node": "node-a",
        "owner_kind": "ReplicaSet",
        "owner_name": "web-7d9f8b6c5",
        "deployment": "web",
        "phase": "Running",
        "ready": all(c.ready for c in app),
        "status": "Running",
        "conditions": {
            "PodScheduled": Condition(status="True", last_transition=T0),
            "Initialized": Condition(status="True", last_transition=T0),
            "ContainersReady": Condition(status="True", last_transition=T0),
            "Ready": Condition(status="True", last_transition=T0),
        },
        "containers": tuple(containers),
        "restarts": sum(c.restarts for c in app),
        "cpu_request_m": sum(c.cpu_request_m or 0 for c in app),
        "cpu_limit_m": sum(c.cpu_limit_m or 0 for c in app),
        "memory_request_bytes": sum(c.memory_request_bytes or 0 for c in app),
        "memory_limit_bytes": sum(c.memory_limit_bytes or 0 for c in app),
        "qos_class": "Burstable",
        "pod_ip": "10.244.1.17",
        "host_ip": "10.0.0.11",
        "start_time": T0,
        "obj": b'{"kind":"Pod","metadata":{"name":"' + name.encode() + b'"}}',
    }
    base.update(kw)
    return PodRow(**base)


def not_ready_conditions(
    reason: str = "ContainersNotReady", since: str = T0
) -> dict[str, Condition]:
    return {
        "PodScheduled": Condition(status="True", last_transition=T0),
        "Initialized": Condition(status="True", last_transition=T0),
        "ContainersReady": Condition(status="False", reason=reason, last_transition=since),
        "Ready": Condition(
            status="False",
            reason=reason,
            message="containers with unready status: [app]",
            last_transition=since,
        ),
    }


def deployment(name: str = "web", namespace: str = "shop", **kw: Any) -> DeploymentRow:
    base: dict[str, Any] = {
        "uid": f"uid-deploy-{namespace}-{name}",
        "namespace": namespace,
        "name": name,
        "resource_version": rv(),
        "created_at": T0,
        "labels": {"app": name},
        "selector": {"app": name},
        "generation": 4,
        "observed_generation": 4,
        "strategy": "RollingUpdate",
        "replicas": 3,
        "ready_replicas": 3,
        "available_replicas": 3,
        "updated_replicas": 3,
        "unavailable_replicas": 0,
        "status_replicas": 3,
        "conditions": {
            "Available": Condition(
                status="True",
                reason="MinimumReplicasAvailable",
                message="Deployment has minimum availability.",
                last_transition=T0,
            ),
            "Progressing": Condition(
                status="True",
                reason="NewReplicaSetAvailable",
                message=f'ReplicaSet "{name}-7d9f8b6c5" has successfully progressed.',
                last_transition=T0,
            ),
        },
        "status": "Available",
        "obj": b'{"kind":"Deployment"}',
    }
    base.update(kw)
    return DeploymentRow(**base)


def node_conditions(**statuses: str) -> dict[str, Condition]:
    """Kubelet-style conditions; pass e.g. Ready="False", MemoryPressure="True"."""
    reasons = {
        ("Ready", "True"): "KubeletReady",
        ("Ready", "False"): "KubeletNotReady",
        ("Ready", "Unknown"): "NodeStatusUnknown",
        ("MemoryPressure", "False"): "KubeletHasSufficientMemory",
        ("MemoryPressure", "True"): "KubeletHasInsufficientMemory",
        ("DiskPressure", "False"): "KubeletHasNoDiskPressure",
        ("DiskPressure", "True"): "KubeletHasDiskPressure",
        ("PIDPressure", "False"): "KubeletHasSufficientPID",
        ("PIDPressure", "True"): "KubeletHasInsufficientPID",
        ("NetworkUnavailable", "False"): "RouteCreated",
        ("NetworkUnavailable", "True"): "NoRouteCreated",
    }
    current = {
        "Ready": "True",
        "MemoryPressure": "False",
        "DiskPressure": "False",
        "PIDPressure": "False",
        "NetworkUnavailable": "False",
    }
    current.update(statuses)
    return {
        name: Condition(
            status=status,
            reason=reasons.get((name, status)),
            message=f"{name} is {status}",
            last_transition=T0,
        )
        for name, status in current.items()
    }


def node(name: str = "node-a", **kw: Any) -> NodeRow:
    conditions = kw.pop("conditions", node_conditions())
    ready = conditions["Ready"].status
    base: dict[str, Any] = {
        "uid": f"uid-node-{name}",
        "name": name,
        "resource_version": rv(),
        "created_at": T0,
        "labels": {"kubernetes.io/hostname": name, "node-role.kubernetes.io/worker": ""},
        "ready": ready,
        "conditions": conditions,
        "status": "Ready" if ready == "True" else "NotReady",
        "roles": ("worker",),
        "kubelet_version": "v1.30.2",
        "os_image": "Ubuntu 22.04.4 LTS",
        "container_runtime": "containerd://1.7.13",
        "internal_ip": "10.0.0.11",
        "cpu_capacity_m": 4000,
        "memory_capacity_bytes": 16 * 2**30,
        "pods_capacity": 110,
        "cpu_allocatable_m": 3800,
        "memory_allocatable_bytes": 15 * 2**30,
        "pods_allocatable": 110,
        "obj": b'{"kind":"Node"}',
    }
    base.update(kw)
    return NodeRow(**base)


def evolve(row: Any, **changes: Any) -> Any:
    """A later version of the same object: same uid, new resourceVersion."""
    changes.setdefault("resource_version", rv())
    return msgspec.structs.replace(row, **changes)


def poison_pod_rows(path: Path, name: str = "poison") -> None:
    """Make SQLite refuse any pod row named `name`: a failure no retry or sanitizing fixes."""
    with sqlite3.connect(path) as db:
        db.execute(
            f"CREATE TRIGGER poison BEFORE INSERT ON pods WHEN NEW.name = '{name}' "
            "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
        )
