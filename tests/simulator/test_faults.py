"""Every injectable fault, each observed the way a client would see it."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

from .kit import make_pod, serve, watching

pytestmark = pytest.mark.anyio


async def test_close_watch_streams_after_n_events() -> None:
    async with serve() as (sim, client):
        sim.faults.close_watches_after(2, streams=1)
        now = sim.store.resource_version
        async with watching(client, "/api/v1/pods", resourceVersion=now) as stream:
            for i in range(4):
                sim.store.create("pods", make_pod(f"p{i}"))
            events = await stream.rest()
        assert [e["object"]["metadata"]["name"] for e in events] == ["p0", "p1"]
        # The rule closed its one stream and is spent: the next watch runs on.
        async with watching(client, "/api/v1/pods", resourceVersion=now + 2) as stream:
            assert (await stream.next())["object"]["metadata"]["name"] == "p2"


async def test_close_after_n_applies_to_streams_already_open() -> None:
    async with serve() as (sim, client):
        now = sim.store.resource_version
        async with watching(client, "/api/v1/pods", resourceVersion=now) as stream:
            sim.store.create("pods", make_pod("before"))
            assert (await stream.next())["object"]["metadata"]["name"] == "before"
            sim.faults.close_watches_after(1)
            sim.store.create("pods", make_pod("after"))
            sim.store.create("pods", make_pod("unseen"))
            assert [e["object"]["metadata"]["name"] for e in await stream.rest()] == ["after"]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (410, "Expired"),
        (429, "TooManyRequests"),
        (500, "InternalError"),
        (503, "ServiceUnavailable"),
    ],
)
async def test_fail_next_lists(status: int, reason: str) -> None:
    async with serve() as (sim, client):
        sim.faults.fail_next(2, status=status, verb="list", retry_after=7)
        for _ in range(2):
            response = await client.get("/api/v1/pods")
            assert response.status_code == status
            assert response.json()["reason"] == reason
            if status in (429, 503):
                assert response.headers["Retry-After"] == "7"
                assert response.json()["details"]["retryAfterSeconds"] == 7
        assert (await client.get("/api/v1/pods")).status_code == 200


async def test_fail_next_is_scoped_by_verb_and_resource() -> None:
    async with serve() as (sim, client):
        sim.faults.fail_next(1, status=500, verb="list", resource="nodes")
        assert (await client.get("/api/v1/pods")).status_code == 200
        assert (await client.get("/api/v1/nodes/x")).status_code == 404  # a get, not a list
        assert (await client.get("/api/v1/nodes")).status_code == 500
        assert (await client.get("/api/v1/nodes")).status_code == 200


async def test_a_410_on_watch_arrives_as_an_error_event() -> None:
    async with serve() as (sim, client):
        sim.faults.fail_next(1, status=410, verb="watch")
        assert (await client.get("/api/v1/pods")).status_code == 200
        async with watching(client, "/api/v1/pods", resourceVersion=1) as stream:
            events = await stream.rest()
        assert [(e["type"], e["object"]["code"]) for e in events] == [("ERROR", 410)]


async def test_a_429_on_watch_is_an_http_error_with_retry_after() -> None:
    async with serve() as (sim, client):
        sim.faults.fail_next(1, status=429, verb="watch", resource="pods", retry_after=2)
        response = await client.get("/api/v1/pods", params={"watch": "1"})
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "2"


async def test_a_stalled_stream_sends_nothing_until_released() -> None:
    async with serve(bookmark_interval=0.02) as (sim, client):
        now = sim.store.resource_version
        async with watching(
            client, "/api/v1/pods", resourceVersion=now, allowWatchBookmarks="1"
        ) as stream:
            assert (await stream.next())["type"] == "BOOKMARK"
            sim.faults.stall_watches(resource="pods")
            sim.store.create("pods", make_pod("held"))
            # Without the stall this window would hold ~15 bookmarks and the event.
            with anyio.move_on_after(0.3) as silence:
                await stream.next_raw(within=1.0)
            assert silence.cancelled_caught
            sim.faults.release_stalls()
            while (event := await stream.next())["type"] == "BOOKMARK":
                pass
            assert event["object"]["metadata"]["name"] == "held"


async def test_a_malformed_line_replaces_one_event() -> None:
    async with serve() as (sim, client):
        now = sim.store.resource_version
        sim.faults.send_malformed_line(1, resource="pods")
        async with watching(client, "/api/v1/pods", resourceVersion=now) as stream:
            sim.store.create("pods", make_pod("lost"))
            sim.store.create("pods", make_pod("fine"))
            bad = await stream.next_raw()
            with pytest.raises(json.JSONDecodeError):
                json.loads(bad)
            assert (await stream.next())["object"]["metadata"]["name"] == "fine"


async def test_a_truncated_chunk_drops_the_connection_mid_event() -> None:
    async with serve() as (sim, client):
        now = sim.store.resource_version
        sim.faults.truncate_next_event()
        chunks: list[bytes] = []

        async def read_all() -> None:
            params = {"watch": "1", "resourceVersion": str(now)}
            async with client.stream("GET", "/api/v1/pods", params=params) as response:
                sim.store.create("pods", make_pod("cut"))
                with anyio.fail_after(5):
                    async for chunk in response.aiter_raw():
                        chunks.append(chunk)

        with pytest.raises(httpx.RemoteProtocolError):
            await read_all()
        received = b"".join(chunks)
        assert received.startswith(b'{"type":"ADDED"')
        assert not received.endswith(b"\n")


async def test_delay_holds_matching_requests() -> None:
    async with serve() as (sim, client):
        sim.faults.delay(0.3, count=1, verb="list")
        start = anyio.current_time()
        assert (await client.get("/api/v1/pods")).status_code == 200
        assert anyio.current_time() - start >= 0.3
        start = anyio.current_time()
        await client.get("/api/v1/pods")
        assert anyio.current_time() - start < 0.3


async def test_restart_with_compacted_history() -> None:
    async with serve() as (sim, client):
        sim.store.create("pods", make_pod("a"))
        old_rv = sim.store.resource_version
        sim.store.create("pods", make_pod("b"))
        port = sim.port
        async with watching(client, "/api/v1/pods", resourceVersion=old_rv) as stream:
            assert (await stream.next())["object"]["metadata"]["name"] == "b"
            await sim.restart(compact=True)
            assert await stream.rest() == []  # the open watch ended
        assert sim.port == port
        assert len((await client.get("/api/v1/pods")).json()["items"]) == 2
        exact = await client.get(
            "/api/v1/pods",
            params={"resourceVersion": str(old_rv), "resourceVersionMatch": "Exact"},
        )
        assert exact.status_code == 410
        async with watching(client, "/api/v1/pods", resourceVersion=old_rv) as stream:
            events = await stream.rest()
        assert [(e["type"], e["object"]["reason"]) for e in events] == [("ERROR", "Expired")]


async def test_requests_are_counted_by_verb_and_resource() -> None:
    async with serve() as (sim, client):
        sim.requests.clear()
        await client.get("/api/v1/pods")
        await client.get("/api/v1/pods")
        await client.get("/apis/apps/v1/namespaces/default/deployments/x")
        await client.get("/api/v1/pods", params={"watch": "1", "timeoutSeconds": "1"})
        assert sim.requests.count(verb="list", resource="pods") == 2
        assert sim.requests.count(verb="get", resource="deployments") == 1
        assert sim.requests.count(verb="watch") == 1
        assert sim.requests.total == 4


async def test_clear_disarms_every_rule() -> None:
    async with serve() as (sim, client):
        sim.faults.fail_next(5, status=500)
        sim.faults.delay(5.0)
        sim.faults.stall_watches()
        before = sim.faults.armed
        sim.faults.clear()
        after = sim.faults.armed
        assert (before, after) == (True, False)
        assert (await client.get("/api/v1/pods")).status_code == 200
