"""create / get / replace / patch / delete over HTTP, the status subresource, leases."""

from __future__ import annotations

from typing import Any

import pytest

from .kit import make_deployment, make_node, make_pod, serve

pytestmark = pytest.mark.anyio

PODS = "/api/v1/namespaces/default/pods"


def _bare_pod(name: str) -> dict[str, Any]:
    pod = make_pod(name)
    del pod["status"]
    return {"apiVersion": "v1", "kind": "Pod", **pod}


async def test_create_answers_201_and_a_duplicate_409_already_exists() -> None:
    async with serve() as (_, client):
        created = await client.post(PODS, json=_bare_pod("a"))
        assert created.status_code == 201
        body = created.json()
        assert body["metadata"]["uid"]
        assert body["status"] == {"phase": "Pending"}  # status is the kubelet's to set
        again = await client.post(PODS, json=_bare_pod("a"))
        assert again.status_code == 409
        status = again.json()
        assert status["reason"] == "AlreadyExists"
        assert status["details"] == {"name": "a", "kind": "pods"}


async def test_create_checks_namespace_and_fills_generate_name() -> None:
    async with serve() as (_, client):
        elsewhere = _bare_pod("a")
        del elsewhere["metadata"]["namespace"]
        missing = await client.post("/api/v1/namespaces/nope/pods", json=elsewhere)
        assert missing.status_code == 404
        assert missing.json()["message"] == 'namespaces "nope" not found'
        pod = _bare_pod("")
        pod["metadata"]["generateName"] = "web-"
        del pod["metadata"]["name"]
        created = (await client.post(PODS, json=pod)).json()
        assert created["metadata"]["name"].startswith("web-")
        assert len(created["metadata"]["name"]) == len("web-") + 5
        mismatch = _bare_pod("b")
        mismatch["metadata"]["namespace"] = "kube-system"
        assert (await client.post(PODS, json=mismatch)).status_code == 400


async def test_get_of_a_missing_object_is_a_404_status() -> None:
    async with serve() as (_, client):
        response = await client.get(f"{PODS}/ghost")
        assert response.status_code == 404
        assert response.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": 'pods "ghost" not found',
            "reason": "NotFound",
            "details": {"name": "ghost", "kind": "pods"},
            "code": 404,
        }


async def test_replace_with_a_stale_resource_version_is_409_conflict() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        current = (await client.get(f"{PODS}/a")).json()
        current["metadata"]["labels"] = {"v": "1"}
        ok = await client.put(f"{PODS}/a", json=current)
        assert ok.status_code == 200
        assert ok.json()["metadata"]["labels"] == {"v": "1"}
        current["metadata"]["labels"] = {"v": "2"}  # still the old resourceVersion
        stale = await client.put(f"{PODS}/a", json=current)
        assert stale.status_code == 409
        assert stale.json()["reason"] == "Conflict"


async def test_status_subresource_is_the_only_way_to_write_status() -> None:
    async with serve() as (sim, client):
        sim.store.create("deployments", make_deployment("web", replicas=2))
        path = "/apis/apps/v1/namespaces/default/deployments/web"
        dep = (await client.get(path)).json()
        dep["status"]["readyReplicas"] = 0
        dep["spec"]["replicas"] = 3
        main = (await client.put(path, json=dep)).json()
        assert main["status"]["readyReplicas"] == 2
        assert main["spec"]["replicas"] == 3
        assert main["metadata"]["generation"] == 2
        main["status"]["readyReplicas"] = 1
        main["spec"]["replicas"] = 9
        status = (await client.put(f"{path}/status", json=main)).json()
        assert status["status"]["readyReplicas"] == 1
        assert status["spec"]["replicas"] == 3
        got = (await client.get(f"{path}/status")).json()
        assert got["status"]["readyReplicas"] == 1


async def test_merge_patch() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        response = await client.patch(
            f"{PODS}/a",
            content=b'{"metadata":{"labels":{"app":null,"tier":"x"}}}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert response.status_code == 200
        assert response.json()["metadata"]["labels"] == {"tier": "x"}


async def test_strategic_merge_patch_merges_keyed_lists() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        patch = {
            "status": {
                "conditions": [{"type": "Ready", "status": "False", "reason": "Probe"}],
                "containerStatuses": [{"name": "sidecar", "restartCount": 4}],
            }
        }
        response = await client.patch(
            f"{PODS}/a/status",
            json=patch,
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
        assert response.status_code == 200
        status = response.json()["status"]
        assert status["conditions"] == [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "Probe"},
        ]
        assert [(c["name"], c["restartCount"]) for c in status["containerStatuses"]] == [
            ("app", 0),
            ("sidecar", 4),
        ]


async def test_strategic_merge_patch_deletes_list_items_and_merges_taints() -> None:
    async with serve() as (sim, client):
        taints = [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoExecute"}]
        sim.store.create("nodes", make_node("n", taints=taints))
        patch = {
            "spec": {
                "unschedulable": True,
                "taints": [
                    {"key": "a", "effect": "NoSchedule", "$patch": "delete"},
                    {"key": "c", "effect": "NoSchedule", "value": "1"},
                ],
            }
        }
        response = await client.patch(
            "/api/v1/nodes/n",
            json=patch,
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
        spec = response.json()["spec"]
        assert spec["unschedulable"] is True
        assert spec["taints"] == [
            {"key": "b", "effect": "NoExecute"},
            {"key": "c", "effect": "NoSchedule", "value": "1"},
        ]


async def test_json_patch() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        ops = [
            {"op": "test", "path": "/spec/nodeName", "value": "node-1"},
            {"op": "add", "path": "/metadata/labels/new", "value": "yes"},
            {"op": "remove", "path": "/metadata/labels/app"},
            {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.28"},
        ]
        response = await client.patch(
            f"{PODS}/a", json=ops, headers={"Content-Type": "application/json-patch+json"}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["metadata"]["labels"] == {"new": "yes"}
        assert body["spec"]["containers"][0]["image"] == "nginx:1.28"
        failing = [{"op": "test", "path": "/spec/nodeName", "value": "other"}]
        refused = await client.patch(
            f"{PODS}/a", json=failing, headers={"Content-Type": "application/json-patch+json"}
        )
        assert refused.status_code == 422


async def test_patch_with_an_unknown_content_type_is_415() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        response = await client.patch(
            f"{PODS}/a", json={}, headers={"Content-Type": "application/apply-patch+yaml"}
        )
        assert response.status_code == 415


async def test_patch_carrying_a_stale_resource_version_is_409() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        response = await client.patch(
            f"{PODS}/a",
            json={"metadata": {"resourceVersion": "1", "labels": {"x": "y"}}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert response.status_code == 409


async def test_delete_returns_the_object_then_404() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a", node="", phase="Pending"))  # unbound: goes at once
        now = sim.store.resource_version
        deleted = await client.delete(f"{PODS}/a")
        assert deleted.status_code == 200
        assert deleted.json()["metadata"]["name"] == "a"
        assert deleted.json()["metadata"]["resourceVersion"] == str(now + 1)
        again = await client.delete(f"{PODS}/a")
        assert again.status_code == 404
        assert again.json()["reason"] == "NotFound"


async def test_delete_preconditions_are_checked() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        response = await client.request(
            "DELETE", f"{PODS}/a", json={"preconditions": {"uid": "not-the-uid"}}
        )
        assert response.status_code == 409
        assert sim.store.get("pods", "default", "a") is not None


async def test_delete_collection_honours_selectors() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a", labels={"app": "web"}))
        sim.store.create("pods", make_pod("b", labels={"app": "db"}))
        response = await client.delete(
            PODS, params={"labelSelector": "app=web", "gracePeriodSeconds": "0"}
        )
        assert [p["metadata"]["name"] for p in response.json()["items"]] == ["a"]
        assert [p["metadata"]["name"] for p in sim.store.list("pods")] == ["b"]


async def test_leases_get_create_replace_for_leader_election() -> None:
    async with serve() as (_, client):
        path = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
        assert (await client.get(f"{path}/agent")).status_code == 404
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "agent", "namespace": "default"},
            "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15},
        }
        created = (await client.post(path, json=lease)).json()
        created["spec"]["holderIdentity"] = "pod-b"
        replaced = await client.put(f"{path}/agent", json=created)
        assert replaced.status_code == 200
        assert replaced.json()["spec"]["holderIdentity"] == "pod-b"
        created["spec"]["holderIdentity"] = "pod-c"  # a competing candidate, now stale
        assert (await client.put(f"{path}/agent", json=created)).status_code == 409


async def test_unsupported_methods_and_paths() -> None:
    async with serve() as (_, client):
        assert (await client.post("/api/v1/pods", json=_bare_pod("a"))).status_code == 405
        assert (await client.get("/api/v1/services")).status_code == 404
        assert (await client.get("/api/v1/namespaces/default/pods/a/log")).status_code == 404
        bad = await client.post(
            PODS, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert bad.status_code == 400
        assert bad.json()["kind"] == "Status"
