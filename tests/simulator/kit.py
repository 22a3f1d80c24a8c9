"""Shared helpers for the simulator tests: a running server, a client, realistic objects.

The objects are built here, not with the scenario engine's factories, so the
protocol tests do not depend on that engine; they carry what the protocol
rules look at (labels, ownerReferences, conditions, containerStatuses,
nodeName, phase).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from simulator import ObjectStore, Simulator

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


@asynccontextmanager
async def serve(**options: Any) -> AsyncIterator[tuple[Simulator, httpx.AsyncClient]]:
    """A running simulator and an httpx client pointed at it."""
    options.setdefault("bookmark_interval", 60.0)
    async with Simulator(**options) as sim:
        headers = {"Authorization": f"Bearer {sim.token}"} if sim.token else {}
        verify: Any = True
        if sim.ca_path is not None:
            verify = ssl.create_default_context(cafile=str(sim.ca_path))
        async with httpx.AsyncClient(
            base_url=sim.url, headers=headers, verify=verify, timeout=10.0
        ) as client:
            yield sim, client


def owner(kind: str, name: str, uid: str, api_version: str = "apps/v1") -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def make_pod(
    name: str,
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    node: str = "node-1",
    phase: str = "Running",
    ready: bool = True,
    restarts: int = 0,
    owner_rs: tuple[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": labels if labels is not None else {"app": "web"},
    }
    if owner_rs is not None:
        meta["ownerReferences"] = [owner("ReplicaSet", *owner_rs)]
    state: dict[str, Any] = {"running": {"startedAt": "2025-01-01T00:00:00Z"}}
    return {
        "metadata": meta,
        "spec": {
            "nodeName": node,
            "restartPolicy": "Always",
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.27",
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "64Mi"},
                        "limits": {"cpu": "500m", "memory": "128Mi"},
                    },
                },
                {"name": "sidecar", "image": "busybox:1.36"},
            ],
        },
        "status": {
            "phase": phase,
            "podIP": "10.244.0.10",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "True" if ready else "False"},
            ],
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": ready,
                    "restartCount": restarts,
                    "image": "docker.io/library/nginx:1.27",
                    "imageID": "docker.io/library/nginx@sha256:" + "a" * 64,
                    "containerID": "containerd://" + "1" * 64,
                    "started": ready,
                    "state": state,
                    "lastState": {},
                },
                {
                    "name": "sidecar",
                    "ready": ready,
                    "restartCount": 0,
                    "image": "docker.io/library/busybox:1.36",
                    "imageID": "docker.io/library/busybox@sha256:" + "b" * 64,
                    "containerID": "containerd://" + "2" * 64,
                    "started": ready,
                    "state": state,
                    "lastState": {},
                },
            ],
        },
    }


def make_node(
    name: str, *, ready: bool = True, taints: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"taints": taints or []},
        "status": {
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "3800m", "memory": "15Gi", "pods": "110"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True" if ready else "False"},
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Ubuntu 24.04"},
        },
    }


def make_deployment(name: str, *, namespace: str = "default", replicas: int = 2) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
        "status": {
            "replicas": replicas,
            "readyReplicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
            "observedGeneration": 1,
        },
    }


def populate(store: ObjectStore) -> None:
    """A small cluster: 2 nodes, a deployment, its replicaset and 3 pods, 1 other pod."""
    for node in ("node-1", "node-2"):
        store.create("nodes", make_node(node))
    store.create("namespaces", {"metadata": {"name": "shop"}})
    dep = store.create("deployments", make_deployment("web"))
    rs = {
        "metadata": {
            "name": "web-7d4b9",
            "namespace": "default",
            "labels": {"app": "web"},
            "ownerReferences": [owner("Deployment", "web", dep["metadata"]["uid"])],
        },
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"replicas": 3, "readyReplicas": 3},
    }
    rs_uid = store.create("replicasets", rs)["metadata"]["uid"]
    for i, node in enumerate(("node-1", "node-2", "node-1")):
        store.create(
            "pods",
            make_pod(
                f"web-7d4b9-{i}",
                labels={"app": "web", "tier": "frontend"},
                node=node,
                owner_rs=("web-7d4b9", rs_uid),
            ),
        )
    store.create(
        "pods",
        make_pod(
            "cart-0", namespace="shop", labels={"app": "cart"}, node="node-2", phase="Pending"
        ),
    )


def names(body: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in body["items"]]


class WatchReader:
    """Lines of a watch stream, read by a background task.

    Reading happens in its own task so that a test may wait for a line with a
    deadline and give up (to prove that nothing arrives) without breaking
    the stream, which cancelling an httpx line iterator would do.
    """

    def __init__(self, lines: MemoryObjectReceiveStream[str | Exception]) -> None:
        self._lines = lines

    async def next_raw(self, *, within: float = 5.0) -> str:
        with anyio.fail_after(within):
            item = await self._lines.receive()
        if isinstance(item, Exception):
            raise item
        return item

    async def next(self, *, within: float = 5.0) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(await self.next_raw(within=within))
        return decoded

    async def rest(self, *, within: float = 5.0) -> list[dict[str, Any]]:
        """Everything until the server ends the stream."""
        out = []
        with anyio.fail_after(within):
            async for item in self._lines:
                if isinstance(item, Exception):
                    raise item
                out.append(json.loads(item))
        return out


async def _pump(response: httpx.Response, send: MemoryObjectSendStream[str | Exception]) -> None:
    async with send:
        try:
            async for line in response.aiter_lines():
                if line.strip():
                    await send.send(line)
        except httpx.HTTPError as exc:
            await send.send(exc)


@asynccontextmanager
async def watching(
    client: httpx.AsyncClient, path: str, **params: Any
) -> AsyncIterator[WatchReader]:
    query = {"watch": "true", **{k: str(v) for k, v in params.items()}}
    async with client.stream("GET", path, params=query) as response:
        assert response.status_code == 200, response.status_code
        send, receive = anyio.create_memory_object_stream[str | Exception](10_000)
        async with anyio.create_task_group() as tasks, receive:
            tasks.start_soon(_pump, response, send)
            try:
                yield WatchReader(receive)
            finally:
                tasks.cancel_scope.cancel()
