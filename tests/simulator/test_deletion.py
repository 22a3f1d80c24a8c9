"""Graceful pod deletion over HTTP: Terminating first, gone after the grace-0 delete."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulator import ObjectStore

from .kit import TABLE, make_deployment, make_pod, serve, watching

pytestmark = pytest.mark.anyio

PODS = "/api/v1/namespaces/default/pods"
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def _frozen_store() -> ObjectStore:
    """A store whose clock stands still, so deletion deadlines are exact."""
    return ObjectStore(clock=lambda: NOW)


async def test_deleting_a_running_pod_marks_it_and_the_grace_0_delete_removes_it() -> None:
    async with serve(store=_frozen_store()) as (sim, client):
        sim.store.create("pods", make_pod("a"))
        start = sim.store.resource_version
        async with watching(client, PODS, resourceVersion=start) as stream:
            response = await client.delete(f"{PODS}/a")
            assert response.status_code == 200
            meta = response.json()["metadata"]
            assert meta["deletionTimestamp"] == "2025-06-01T12:00:30Z"
            assert meta["deletionGracePeriodSeconds"] == 30
            assert meta["resourceVersion"] == str(start + 1)
            still = await client.get(f"{PODS}/a")
            assert still.status_code == 200  # Terminating, not gone
            modified = await stream.next()
            assert modified["type"] == "MODIFIED"
            assert modified["object"]["metadata"]["deletionTimestamp"] == "2025-06-01T12:00:30Z"
            final = await client.delete(f"{PODS}/a", params={"gracePeriodSeconds": "0"})
            assert final.status_code == 200
            deleted = await stream.next()
            assert deleted["type"] == "DELETED"
            gone = deleted["object"]["metadata"]
            assert gone["deletionGracePeriodSeconds"] == 0
            assert gone["deletionTimestamp"] == "2025-06-01T12:00:00Z"  # the deadline moved back
            assert int(gone["resourceVersion"]) == sim.store.resource_version
        assert (await client.get(f"{PODS}/a")).status_code == 404


async def test_the_grace_period_comes_from_delete_options_or_the_pod_spec() -> None:
    async with serve(store=_frozen_store()) as (sim, client):
        spec_default = make_pod("spec")
        spec_default["spec"]["terminationGracePeriodSeconds"] = 12
        sim.store.create("pods", spec_default)
        sim.store.create("pods", make_pod("body"))
        by_spec = (await client.delete(f"{PODS}/spec")).json()["metadata"]
        assert by_spec["deletionGracePeriodSeconds"] == 12
        assert by_spec["deletionTimestamp"] == "2025-06-01T12:00:12Z"
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5}
        by_body = await client.request(
            "DELETE", f"{PODS}/body", json=options, params={"gracePeriodSeconds": "0"}
        )
        # The body wins over the query string, as the API server reads DeleteOptions.
        assert by_body.json()["metadata"]["deletionGracePeriodSeconds"] == 5


async def test_a_later_delete_may_only_shorten_the_grace_period() -> None:
    async with serve(store=_frozen_store()) as (sim, client):
        sim.store.create("pods", make_pod("a"))
        first = (await client.delete(f"{PODS}/a", params={"gracePeriodSeconds": "60"})).json()
        for longer in ({}, {"gracePeriodSeconds": "60"}, {"gracePeriodSeconds": "90"}):
            again = (await client.delete(f"{PODS}/a", params=longer)).json()
            assert again["metadata"] == first["metadata"], longer  # no new version
        shorter = (await client.delete(f"{PODS}/a", params={"gracePeriodSeconds": "10"})).json()
        assert shorter["metadata"]["deletionGracePeriodSeconds"] == 10
        assert shorter["metadata"]["deletionTimestamp"] == "2025-06-01T12:00:10Z"
        assert int(shorter["metadata"]["resourceVersion"]) > int(
            first["metadata"]["resourceVersion"]
        )


async def test_unbound_and_finished_pods_go_at_once() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("pending", node="", phase="Pending"))
        sim.store.create("pods", make_pod("done", phase="Succeeded", ready=False))
        start = sim.store.resource_version
        async with watching(client, PODS, resourceVersion=start) as stream:
            for name in ("pending", "done"):
                response = await client.delete(f"{PODS}/{name}", params={"gracePeriodSeconds": 30})
                assert response.status_code == 200
                event = await stream.next()
                assert (event["type"], event["object"]["metadata"]["name"]) == ("DELETED", name)
                assert (await client.get(f"{PODS}/{name}")).status_code == 404


async def test_a_terminating_pod_prints_terminating_and_status_updates_keep_it() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        await client.delete(f"{PODS}/a")
        pod = sim.store.get("pods", "default", "a")
        assert pod is not None
        pod["status"]["phase"] = "Succeeded"  # the kubelet reports its containers stopped
        sim.store.update("pods", pod, subresource="status")
        table = (await client.get(f"{PODS}/a", headers={"Accept": TABLE})).json()
        columns = [c["name"] for c in table["columnDefinitions"]]
        assert table["rows"][0]["cells"][columns.index("Status")] == "Terminating"


async def test_kinds_without_a_grace_period_ignore_it() -> None:
    async with serve() as (sim, client):
        sim.store.create("deployments", make_deployment("web"))
        path = "/apis/apps/v1/namespaces/default/deployments/web"
        response = await client.delete(path, params={"gracePeriodSeconds": "30"})
        assert response.status_code == 200
        assert (await client.get(path)).status_code == 404


@pytest.mark.parametrize(
    ("params", "body"),
    [
        ({"gracePeriodSeconds": "soon"}, None),
        ({}, {"gracePeriodSeconds": "30"}),
        ({}, {"gracePeriodSeconds": True}),
        ({}, [30]),
        ({}, {"preconditions": "uid"}),
    ],
)
async def test_bad_delete_options_are_a_400_and_delete_nothing(
    params: dict[str, str], body: object
) -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        before = sim.store.resource_version
        response = await client.request("DELETE", f"{PODS}/a", params=params, json=body)
        assert response.status_code == 400, response.text
        assert response.json()["kind"] == "Status"
        assert sim.store.resource_version == before
