"""LIST over HTTP: pagination, continue tokens, resourceVersion semantics, tables."""

from __future__ import annotations

import pytest

from .kit import TABLE, make_pod, names, populate, serve

pytestmark = pytest.mark.anyio


async def test_pagination_walks_a_consistent_snapshot() -> None:
    async with serve() as (sim, client):
        for i in range(7):
            sim.store.create("pods", make_pod(f"p{i}"))
        first = (await client.get("/api/v1/namespaces/default/pods", params={"limit": 3})).json()
        assert names(first) == ["p0", "p1", "p2"]
        assert first["metadata"]["remainingItemCount"] == 4
        # Changes after the first page must not show up in the later pages.
        sim.store.delete("pods", "default", "p4", grace_period_seconds=0)
        sim.store.create("pods", make_pod("p3a"))
        seen = names(first)
        token = first["metadata"]["continue"]
        while token:
            page = (
                await client.get(
                    "/api/v1/namespaces/default/pods", params={"limit": 3, "continue": token}
                )
            ).json()
            assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
            seen += names(page)
            token = page["metadata"].get("continue")
        assert seen == [f"p{i}" for i in range(7)]


async def test_a_continue_token_older_than_the_window_is_410_expired() -> None:
    async with serve(window=5) as (sim, client):
        for i in range(4):
            sim.store.create("pods", make_pod(f"p{i}"))
        first = (await client.get("/api/v1/pods", params={"limit": 2})).json()
        for i in range(6):  # push the list's resourceVersion out of the window
            sim.store.create("pods", make_pod(f"q{i}", namespace="kube-system"))
        token = first["metadata"]["continue"]
        response = await client.get("/api/v1/pods", params={"limit": 2, "continue": token})
        assert response.status_code == 410
        status = response.json()
        assert status["kind"] == "Status"
        assert status["reason"] == "Expired"
        assert status["code"] == 410
        # The Status offers an inconsistent continuation, as the real server does.
        retry = status["metadata"]["continue"]
        rest = (await client.get("/api/v1/pods", params={"continue": retry})).json()
        assert names(rest) == ["p2", "p3"] + [f"q{i}" for i in range(6)]


async def test_a_continue_token_we_did_not_issue_is_400() -> None:
    async with serve() as (_, client):
        response = await client.get("/api/v1/pods", params={"continue": "not-a-token!"})
        assert response.status_code == 400
        assert response.json()["reason"] == "BadRequest"


async def test_resource_version_zero_is_served_from_cache_and_ignores_limit() -> None:
    async with serve() as (sim, client):
        for i in range(5):
            sim.store.create("pods", make_pod(f"p{i}"))
        body = (
            await client.get("/api/v1/pods", params={"limit": 2, "resourceVersion": "0"})
        ).json()
        assert len(body["items"]) == 5
        assert "continue" not in body["metadata"]


async def test_exact_resource_version_lists_the_past_and_410s_beyond_the_window() -> None:
    async with serve(window=4) as (sim, client):
        sim.store.create("pods", make_pod("a"))
        then = sim.store.resource_version
        sim.store.create("pods", make_pod("b"))
        past = await client.get(
            "/api/v1/pods", params={"resourceVersion": str(then), "resourceVersionMatch": "Exact"}
        )
        assert names(past.json()) == ["a"]
        assert past.json()["metadata"]["resourceVersion"] == str(then)
        for i in range(5):
            sim.store.create("pods", make_pod(f"c{i}"))
        gone = await client.get(
            "/api/v1/pods", params={"resourceVersion": str(then), "resourceVersionMatch": "Exact"}
        )
        assert gone.status_code == 410
        assert gone.json()["reason"] == "Expired"


async def test_not_older_than_a_future_version_times_out_504() -> None:
    async with serve(future_rv_wait=0.05) as (sim, client):
        future = sim.store.resource_version + 10
        response = await client.get(
            "/api/v1/pods",
            params={"resourceVersion": str(future), "resourceVersionMatch": "NotOlderThan"},
        )
        assert response.status_code == 504
        assert response.json()["reason"] == "Timeout"


async def test_not_older_than_a_current_version_serves_the_latest_state() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        rv = sim.store.resource_version
        sim.store.create("pods", make_pod("b"))
        body = (
            await client.get(
                "/api/v1/pods",
                params={"resourceVersion": str(rv), "resourceVersionMatch": "NotOlderThan"},
            )
        ).json()
        assert names(body) == ["a", "b"]


@pytest.mark.parametrize(
    "params",
    [
        {"resourceVersionMatch": "Exact"},
        {"resourceVersion": "0", "resourceVersionMatch": "Exact"},
        {"resourceVersion": "1", "resourceVersionMatch": "Newest"},
        {"resourceVersion": "1", "continue": "eyJydiI6MSwic3RhcnQiOiJhIn0"},
        {"sendInitialEvents": "true"},
    ],
)
async def test_invalid_list_options_are_422(params: dict[str, str]) -> None:
    async with serve() as (_, client):
        response = await client.get("/api/v1/pods", params=params)
        assert response.status_code == 422
        assert response.json()["reason"] == "Invalid"


async def test_cluster_wide_and_namespaced_lists() -> None:
    async with serve() as (sim, client):
        populate(sim.store)
        everywhere = (await client.get("/api/v1/pods")).json()
        assert everywhere["kind"] == "PodList"
        assert names(everywhere) == ["web-7d4b9-0", "web-7d4b9-1", "web-7d4b9-2", "cart-0"]
        shop = (await client.get("/api/v1/namespaces/shop/pods")).json()
        assert names(shop) == ["cart-0"]
        deployments = (await client.get("/apis/apps/v1/deployments")).json()
        assert deployments["kind"] == "DeploymentList"
        assert deployments["apiVersion"] == "apps/v1"
        assert names(deployments) == ["web"]
        nodes = (await client.get("/api/v1/nodes")).json()
        assert names(nodes) == ["node-1", "node-2"]


async def test_table_output_has_kubectl_columns() -> None:
    async with serve() as (sim, client):
        populate(sim.store)
        response = await client.get("/api/v1/pods", headers={"Accept": TABLE + ",application/json"})
        assert response.headers["content-type"].startswith("application/json;as=Table")
        table = response.json()
        assert table["kind"] == "Table"
        columns = [c["name"] for c in table["columnDefinitions"]]
        assert columns[:7] == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"]
        first = table["rows"][0]
        assert first["cells"][:3] == ["web-7d4b9-0", "2/2", "Running"]
        assert first["object"]["kind"] == "PartialObjectMetadata"
        nodes = (await client.get("/api/v1/nodes", headers={"Accept": TABLE})).json()
        assert nodes["rows"][0]["cells"][:2] == ["node-1", "Ready"]
        deploy = (await client.get("/apis/apps/v1/deployments", headers={"Accept": TABLE})).json()
        assert [c["name"] for c in deploy["columnDefinitions"]] == [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector",
        ]
        assert deploy["rows"][0]["cells"][1] == "2/2"
        assert deploy["rows"][0]["cells"][-1] == "app=web"


async def test_an_unacceptable_accept_header_is_406() -> None:
    async with serve() as (_, client):
        response = await client.get(
            "/api/v1/pods", headers={"Accept": "application/vnd.kubernetes.protobuf"}
        )
        assert response.status_code == 406
        assert response.json()["reason"] == "NotAcceptable"


async def test_a_long_list_is_streamed_in_slices_with_an_exact_length() -> None:
    async with serve() as (sim, client):
        for i in range(2100):
            sim.store.create("pods", make_pod(f"p{i:04d}"))
        response = await client.get("/api/v1/pods")
        assert int(response.headers["content-length"]) == len(response.content)
        body = response.json()
        assert names(body) == [f"p{i:04d}" for i in range(2100)]
        assert body["metadata"]["resourceVersion"] == str(sim.store.resource_version)
