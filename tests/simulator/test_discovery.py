"""Discovery, legacy and aggregated, as kubectl and client-go ask for it."""

from __future__ import annotations

import pytest

from .kit import serve

pytestmark = pytest.mark.anyio

AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


async def test_version_and_health() -> None:
    async with serve() as (_, client):
        version = (await client.get("/version")).json()
        assert (version["major"], version["minor"]) == ("1", "32")
        for path in ("/healthz", "/readyz", "/livez"):
            response = await client.get(path)
            assert response.status_code == 200
            assert response.text == "ok"
        assert (await client.get("/openapi/v2")).status_code == 404


async def test_legacy_core_discovery_with_short_names_and_subresources() -> None:
    async with serve() as (_, client):
        assert (await client.get("/api")).json()["versions"] == ["v1"]
        doc = (await client.get("/api/v1")).json()
        assert doc["kind"] == "APIResourceList"
        resources = {r["name"]: r for r in doc["resources"]}
        assert {"pods", "nodes", "namespaces", "events", "pods/status", "nodes/status"} <= set(
            resources
        )
        assert resources["pods"]["shortNames"] == ["po"]
        assert resources["nodes"]["shortNames"] == ["no"]
        assert resources["namespaces"]["shortNames"] == ["ns"]
        assert resources["events"]["shortNames"] == ["ev"]
        assert resources["nodes"]["namespaced"] is False
        assert "watch" in resources["pods"]["verbs"]
        assert resources["pods/status"]["verbs"] == ["get", "patch", "update"]


async def test_legacy_group_discovery() -> None:
    async with serve() as (_, client):
        groups = (await client.get("/apis")).json()
        assert groups["kind"] == "APIGroupList"
        assert {g["name"] for g in groups["groups"]} == {
            "apps",
            "coordination.k8s.io",
            "authorization.k8s.io",
        }
        apps = {r["name"]: r for r in (await client.get("/apis/apps/v1")).json()["resources"]}
        assert apps["deployments"]["shortNames"] == ["deploy"]
        assert apps["replicasets"]["shortNames"] == ["rs"]
        leases = (await client.get("/apis/coordination.k8s.io/v1")).json()
        assert [r["name"] for r in leases["resources"]] == ["leases"]
        assert (await client.get("/apis/apps")).json()["preferredVersion"]["version"] == "v1"
        assert (await client.get("/apis/batch/v1")).status_code == 404


async def test_aggregated_discovery_when_asked_for_it() -> None:
    async with serve() as (_, client):
        core = await client.get("/api", headers={"Accept": AGGREGATED})
        assert core.headers["content-type"] == (
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        )
        body = core.json()
        assert body["kind"] == "APIGroupDiscoveryList"
        (group,) = body["items"]
        pods = next(r for r in group["versions"][0]["resources"] if r["resource"] == "pods")
        assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
        assert pods["scope"] == "Namespaced"
        assert pods["shortNames"] == ["po"]
        assert pods["subresources"][0]["subresource"] == "status"
        groups = (await client.get("/apis", headers={"Accept": AGGREGATED})).json()
        names = [g["metadata"]["name"] for g in groups["items"]]
        assert names == ["apps", "coordination.k8s.io", "authorization.k8s.io"]


async def test_self_subject_access_review_is_allowed_even_for_protobuf_bodies() -> None:
    async with serve() as (_, client):
        path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}},
        }
        answer = await client.post(path, json=review)
        assert answer.status_code == 201
        assert answer.json()["status"]["allowed"] is True
        assert answer.json()["spec"] == review["spec"]
        opaque = await client.post(
            path,
            content=b"k8s\x00\n\x1c\n\x1eauthorization",
            headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
        )
        assert opaque.status_code == 201
        assert opaque.json()["status"]["allowed"] is True
