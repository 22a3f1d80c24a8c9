"""Every injectable fault, each observed the way a client would see it."""

from __future__ import annotations

import argparse
import io
import json
import re
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from simulator.cli import add_simulate_arguments, run_simulate
from simulator.server import Simulator

from .kit import make_pod, populate, serve, watching

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
        (504, "Timeout"),
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
        sim.faults.delay(60.0, count=1, verb="list")
        answered: list[str] = []

        async def get(name: str) -> None:
            assert (await client.get("/api/v1/pods")).status_code == 200
            answered.append(name)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(get, "held")
                while sim.faults.armed:  # noqa: ASYNC110 (no event says the delay was taken)
                    await anyio.sleep(0.01)
                await get("next")  # the count is spent: this one is not held
                assert answered == ["next"]  # while the first still is
                tg.cancel_scope.cancel()


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


TOO_LARGE = {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}


async def test_an_injected_504_is_too_large_resource_version() -> None:
    async with serve() as (sim, client):
        sim.faults.fail_next(1, status=504, verb="watch", resource="pods")
        response = await client.get("/api/v1/pods", params={"watch": "1"})
        body = response.json()
        assert (response.status_code, body["reason"]) == (504, "Timeout")
        assert body["details"]["causes"] == [TOO_LARGE]
        assert body["message"].startswith("Too large resource version")


_PATHS = {
    "pods": "/api/v1/pods",
    "nodes": "/api/v1/nodes",
    "namespaces": "/api/v1/namespaces",
    "deployments": "/apis/apps/v1/deployments",
    "replicasets": "/apis/apps/v1/replicasets",
}


def _uids(items: list[dict[str, Any]]) -> dict[str, str]:
    """uid by namespace/name."""
    return {
        f"{i['metadata'].get('namespace', '')}/{i['metadata']['name']}": i["metadata"]["uid"]
        for i in items
    }


async def test_restart_with_history_reset() -> None:
    """Restored or replaced: lower resourceVersion, same names, new uids, no history."""
    async with serve(future_rv_wait=0.05) as (sim, client):
        populate(sim.store)
        pod = sim.store.get("pods", "default", "web-7d4b9-0")
        assert pod is not None
        pod["metadata"]["labels"]["touched"] = "yes"
        sim.store.update("pods", pod)  # a change, so the history is longer than the object count
        before = {r: (await client.get(p)).json() for r, p in _PATHS.items()}
        old_rv = sim.store.resource_version
        async with watching(client, "/api/v1/pods", resourceVersion=old_rv) as stream:
            await sim.restart(history_reset=True)
            assert await stream.rest() == []  # the open watch was cut
        after = {r: (await client.get(p)).json() for r, p in _PATHS.items()}
        new_rv = int(after["pods"]["metadata"]["resourceVersion"])
        assert new_rv < old_rv
        assert sim.store.resource_version == new_rv
        for resource in ("pods", "replicasets", "deployments", "nodes"):
            old, new = _uids(before[resource]["items"]), _uids(after[resource]["items"])
            assert old.keys() == new.keys()  # the same names...
            assert not set(old.values()) & set(new.values())  # ...are new objects
        # Namespaces keep their uids: the cluster's identity survives.
        assert _uids(before["namespaces"]["items"]) == _uids(after["namespaces"]["items"])
        # ownerReferences follow the new uids.
        rs_uid = _uids(after["replicasets"]["items"])["default/web-7d4b9"]
        owned = [p for p in after["pods"]["items"] if p["metadata"].get("ownerReferences")]
        assert {p["metadata"]["ownerReferences"][0]["uid"] for p in owned} == {rs_uid}
        # A client still at the old resourceVersion is told the server has not reached it.
        listed = await client.get(
            "/api/v1/pods",
            params={"resourceVersion": str(old_rv), "resourceVersionMatch": "NotOlderThan"},
        )
        assert listed.status_code == 504
        assert listed.json()["details"]["causes"] == [TOO_LARGE]
        async with watching(client, "/api/v1/pods", resourceVersion=old_rv) as stream:
            events = await stream.rest()
        assert [e["type"] for e in events] == ["ERROR"]
        status = events[0]["object"]
        assert (status["code"], status["reason"]) == (504, "Timeout")
        assert status["message"] == f"Too large resource version: {old_rv}, current: {new_rv}"
        assert status["details"]["causes"] == [TOO_LARGE]


async def test_a_history_reset_must_lower_the_resource_version() -> None:
    async with serve() as (sim, client):
        rv = sim.store.resource_version  # only the default namespaces: nothing to lower
        with pytest.raises(ValueError, match="must lower the resourceVersion"):
            await sim.restart(history_reset=True)
        assert sim.store.resource_version == rv
        assert sim.running
        assert (await client.get("/api/v1/namespaces")).status_code == 200


async def test_a_server_that_serves_future_resource_versions() -> None:
    """The fault switch: no 504, the request is served from the current, lower state."""
    async with serve(bookmark_interval=0.05, future_rv_wait=5.0) as (sim, client):
        populate(sim.store)
        sim.store.compact()
        old_rv = sim.store.resource_version + 100
        sim.faults.serve_future_resource_versions()
        assert sim.faults.armed
        with anyio.fail_after(2):  # no 5 s wait for the version to arrive
            listed = await client.get(
                "/api/v1/pods",
                params={"resourceVersion": str(old_rv), "resourceVersionMatch": "NotOlderThan"},
            )
        assert listed.status_code == 200
        assert int(listed.json()["metadata"]["resourceVersion"]) == sim.store.resource_version
        async with watching(
            client, "/api/v1/pods", resourceVersion=old_rv, allowWatchBookmarks="true"
        ) as stream:
            bookmark = await stream.next()
            assert bookmark["type"] == "BOOKMARK"
            assert int(bookmark["object"]["metadata"]["resourceVersion"]) < old_rv
            sim.store.create("pods", make_pod("late"))
            while (event := await stream.next())["type"] == "BOOKMARK":
                pass
            assert event["object"]["metadata"]["name"] == "late"
            assert int(event["object"]["metadata"]["resourceVersion"]) < old_rv
        sim.faults.clear()
        assert not sim.faults.armed


async def test_the_simulate_command_resets_history_and_serves_future_versions(
    tmp_path: Path,
) -> None:
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    # A second of churn before the reset: it takes the resourceVersion back by about that
    # many changes, far more than the churn while the server comes back up (the command
    # prints the version read after it is up).
    args = parser.parse_args(
        ["--nodes", "2", "--deployments", "2", "--churn", "100", "--kubeconfig-out",
         str(tmp_path / "kubeconfig"), "--fault-history-reset-after", "1",
         "--fault-serve-future-rv"]
    )  # fmt: skip
    out = io.StringIO()
    ready: list[Simulator] = []
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: run_simulate(args, on_ready=lambda sim, _: ready.append(sim), out=out)
            )
            while "fault: history reset:" not in out.getvalue():  # noqa: ASYNC110
                await anyio.sleep(0.02)  # polling the command's output for its line
            tg.cancel_scope.cancel()
    assert ready[0].faults.future_resource_versions_served
    text = out.getvalue()
    assert "fault: future resourceVersions served from the current state (no 504)" in text
    found = re.search(r"history reset: resourceVersion (\d+) -> (\d+)", text)
    assert found is not None
    assert int(found[2]) < int(found[1])
