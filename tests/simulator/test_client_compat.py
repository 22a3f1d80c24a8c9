"""kubernetes-asyncio, the agent's own client, against the simulator.

The watcher and the leader election later build on exactly these calls:
loading the written kubeconfig (TLS, CA data, token), list, watch with a
resourceVersion, and Lease get/create/replace with optimistic concurrency.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from simulator import Simulator

from .kit import make_pod, populate

pytestmark = pytest.mark.anyio


async def _api(sim: Simulator, tmp_path: Path) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(sim.write_kubeconfig(tmp_path / "kubeconfig")),
        client_configuration=configuration,
    )
    return client.ApiClient(configuration)


async def test_list_and_watch_through_kubernetes_asyncio(tmp_path: Path) -> None:
    async with Simulator(token="tok", tls=True) as sim:
        populate(sim.store)
        async with await _api(sim, tmp_path) as api:
            core = client.CoreV1Api(api)
            pods = await core.list_pod_for_all_namespaces(limit=2)
            assert [p.metadata.name for p in pods.items] == ["web-7d4b9-0", "web-7d4b9-1"]
            assert pods.metadata._continue
            assert pods.items[0].metadata.owner_references[0].kind == "ReplicaSet"
            assert pods.items[0].status.container_statuses[0].restart_count == 0
            start = sim.store.resource_version
            sim.store.create("pods", make_pod("new"))
            seen = []
            async with watch.Watch().stream(
                core.list_namespaced_pod,
                "default",
                resource_version=str(start),
                timeout_seconds=1,
            ) as stream:
                async for event in stream:
                    seen.append((event["type"], event["object"].metadata.name))
            assert seen == [("ADDED", "new")]


async def test_lease_create_get_replace_with_conflicts(tmp_path: Path) -> None:
    async with Simulator(token="tok", tls=True) as sim, await _api(sim, tmp_path) as api:
        leases = client.CoordinationV1Api(api)
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name="agent", namespace="default"),
            spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15),
        )
        with pytest.raises(ApiException) as missing:
            await leases.read_namespaced_lease("agent", "default")
        assert missing.value.status == 404
        await leases.create_namespaced_lease("default", body)
        current = await leases.read_namespaced_lease("agent", "default")
        current.spec.holder_identity = "b"
        replaced = await leases.replace_namespaced_lease("agent", "default", current)
        assert replaced.spec.holder_identity == "b"
        current.spec.holder_identity = "c"
        with pytest.raises(ApiException) as stale:
            await leases.replace_namespaced_lease("agent", "default", current)
        assert stale.value.status == 409
