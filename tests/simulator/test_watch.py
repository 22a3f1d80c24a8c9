"""WATCH over HTTP: replay, 410, bookmarks, timeouts, initial events, selectors."""

from __future__ import annotations

import anyio
import pytest

from simulator import ObjectStore, Simulator

from .kit import TABLE, make_pod, serve, watching

pytestmark = pytest.mark.anyio


def _relabel(store: ObjectStore, name: str, labels: dict[str, str]) -> None:
    pod = store.get("pods", "default", name)
    assert pod is not None
    pod["metadata"]["labels"] = labels
    store.update("pods", pod)


async def test_watch_from_a_resource_version_replays_then_follows() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        start = sim.store.resource_version
        sim.store.create("pods", make_pod("b"))
        sim.store.delete("pods", "default", "a", grace_period_seconds=0)
        async with watching(client, "/api/v1/pods", resourceVersion=start) as stream:
            added = await stream.next()
            deleted = await stream.next()
            assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "b")
            assert (deleted["type"], deleted["object"]["metadata"]["name"]) == ("DELETED", "a")
            sim.store.create("pods", make_pod("c"))
            live = await stream.next()
            assert live["type"] == "ADDED"
            assert int(live["object"]["metadata"]["resourceVersion"]) == sim.store.resource_version


async def test_watch_from_a_too_old_resource_version_gets_an_error_410_and_ends() -> None:
    async with serve(window=3) as (sim, client):
        for i in range(6):
            sim.store.create("pods", make_pod(f"p{i}"))
        async with watching(client, "/api/v1/pods", resourceVersion=1) as stream:
            events = await stream.rest()
        assert len(events) == 1
        assert events[0]["type"] == "ERROR"
        status = events[0]["object"]
        assert status["kind"] == "Status"
        assert status["code"] == 410
        assert status["reason"] == "Expired"


async def test_watch_without_resource_version_starts_with_synthetic_added_events() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        sim.store.create("pods", make_pod("b", namespace="kube-system"))
        async with watching(client, "/api/v1/namespaces/default/pods") as stream:
            first = await stream.next()
            assert first["type"] == "ADDED"
            assert first["object"]["metadata"]["name"] == "a"
            sim.store.create("pods", make_pod("c", namespace="kube-system"))
            sim.store.create("pods", make_pod("d"))
            nxt = await stream.next()
            assert nxt["object"]["metadata"]["name"] == "d"


async def test_bookmarks_carry_only_the_resource_version() -> None:
    async with serve(bookmark_interval=0.05) as (sim, client):
        sim.store.create("pods", make_pod("a"))
        now = sim.store.resource_version
        async with watching(
            client, "/api/v1/pods", resourceVersion=now, allowWatchBookmarks="true"
        ) as stream:
            event = await stream.next()
            assert event == {
                "type": "BOOKMARK",
                "object": {
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "metadata": {"resourceVersion": str(now)},
                },
            }
            # Changes elsewhere advance the bookmark's resourceVersion too.
            sim.store.create("nodes", {"metadata": {"name": "n"}})
            while True:
                event = await stream.next()
                if event["object"]["metadata"]["resourceVersion"] == str(now + 1):
                    break
            assert event["type"] == "BOOKMARK"


async def test_no_bookmarks_unless_asked() -> None:
    async with serve(bookmark_interval=0.02) as (sim, client):
        now = sim.store.resource_version
        async with watching(client, "/api/v1/pods", resourceVersion=now, timeoutSeconds=1) as s:
            sim.store.create("pods", make_pod("a"))
            events = await s.rest()
        assert [e["type"] for e in events] == ["ADDED"]


async def test_timeout_seconds_ends_the_stream_cleanly() -> None:
    async with serve() as (sim, client):
        now = sim.store.resource_version
        # A hang guard: the stream's own timeoutSeconds, not this deadline, ends it.
        with anyio.fail_after(5):
            async with watching(client, "/api/v1/pods", resourceVersion=now, timeoutSeconds=1) as s:
                sim.store.create("pods", make_pod("a"))  # the stream is open, not ended at once
                assert [e["type"] for e in await s.rest()] == ["ADDED"]
        assert sim.open_watches() == 0


async def test_send_initial_events_ends_with_the_annotated_bookmark() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        sim.store.create("pods", make_pod("b"))
        snapshot_rv = sim.store.resource_version
        async with watching(
            client,
            "/api/v1/pods",
            sendInitialEvents="true",
            resourceVersionMatch="NotOlderThan",
            allowWatchBookmarks="true",
        ) as stream:
            one, two, end = await stream.next(), await stream.next(), await stream.next()
            assert [one["type"], two["type"]] == ["ADDED", "ADDED"]
            assert [one["object"]["metadata"]["name"], two["object"]["metadata"]["name"]] == [
                "a",
                "b",
            ]
            assert end["type"] == "BOOKMARK"
            assert end["object"]["metadata"] == {
                "resourceVersion": str(snapshot_rv),
                "annotations": {"k8s.io/initial-events-end": "true"},
            }
            sim.store.create("pods", make_pod("c"))
            assert (await stream.next())["object"]["metadata"]["name"] == "c"


@pytest.mark.parametrize(
    "params",
    [
        {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"},
        {"sendInitialEvents": "true", "allowWatchBookmarks": "true"},
        {"resourceVersionMatch": "NotOlderThan", "resourceVersion": "1"},
    ],
    ids=["no-bookmarks", "no-match", "match-without-initial-events"],
)
async def test_invalid_watch_options_are_422(params: dict[str, str]) -> None:
    async with serve() as (_, client):
        response = await client.get("/api/v1/pods", params={"watch": "true", **params})
        assert response.status_code == 422
        assert response.json()["reason"] == "Invalid"


async def test_a_selector_turns_leaving_into_deleted_and_entering_into_added() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a", labels={"app": "web"}))
        now = sim.store.resource_version
        async with watching(
            client, "/api/v1/pods", resourceVersion=now, labelSelector="app=web"
        ) as stream:
            _relabel(sim.store, "a", {"app": "db"})
            left = await stream.next()
            assert left["type"] == "DELETED"
            # The last version the watcher matched, stamped with the change's RV.
            assert left["object"]["metadata"]["labels"] == {"app": "web"}
            assert left["object"]["metadata"]["resourceVersion"] == str(now + 1)
            _relabel(sim.store, "a", {"app": "db", "x": "1"})  # invisible to this watcher
            _relabel(sim.store, "a", {"app": "web"})
            entered = await stream.next()
            assert entered["type"] == "ADDED"
            assert entered["object"]["metadata"]["resourceVersion"] == str(now + 3)


async def test_a_field_selector_filters_the_watch() -> None:
    async with serve() as (sim, client):
        now = sim.store.resource_version
        async with watching(
            client, "/api/v1/pods", resourceVersion=now, fieldSelector="spec.nodeName=node-2"
        ) as stream:
            sim.store.create("pods", make_pod("a", node="node-1"))
            sim.store.create("pods", make_pod("b", node="node-2"))
            event = await stream.next()
            assert event["object"]["metadata"]["name"] == "b"


async def test_the_legacy_watch_path_watches_one_object() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        sim.store.create("pods", make_pod("b"))
        now = sim.store.resource_version
        async with watching(
            client, "/api/v1/watch/namespaces/default/pods/b", resourceVersion=now
        ) as stream:
            _relabel(sim.store, "a", {"x": "1"})
            _relabel(sim.store, "b", {"x": "2"})
            event = await stream.next()
            assert event["object"]["metadata"]["name"] == "b"


async def test_table_watch_sends_headers_once() -> None:
    async with serve() as (sim, client):
        now = sim.store.resource_version
        client.headers["Accept"] = TABLE
        async with watching(client, "/api/v1/pods", resourceVersion=now) as stream:
            sim.store.create("pods", make_pod("a"))
            sim.store.create("pods", make_pod("b"))
            first, second = await stream.next(), await stream.next()
        assert first["object"]["kind"] == "Table"
        assert first["object"]["columnDefinitions"][0]["name"] == "Name"
        assert second["object"]["columnDefinitions"] is None
        assert second["object"]["rows"][0]["cells"][0] == "b"


async def test_shutdown_ends_open_watches() -> None:
    async with serve() as (sim, client):
        now = sim.store.resource_version
        async with watching(client, "/api/v1/pods", resourceVersion=now) as stream:
            await sim.wait_for_watches(1)
            await sim.stop()
            # The stream ends cleanly (terminating chunk), so clients just re-watch.
            assert await stream.rest() == []
        assert sim.open_watches() == 0


async def test_a_stopped_simulator_lets_go_of_its_store() -> None:
    store = ObjectStore()
    before = len(store._listeners)
    sim = Simulator(store=store)
    for _ in range(2):  # stop, then start again: still one listener while running
        async with sim:
            assert len(store._listeners) == before + 1
    assert len(store._listeners) == before
