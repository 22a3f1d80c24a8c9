"""Reflector semantics against the simulator: lists, watches, and every fault."""

from __future__ import annotations

import anyio
import pytest

from simulator.server import Simulator
from store.model import Kind
from tests.watcher.cluster import (
    differences,
    ensure_namespace,
    expected_rows,
    make_node,
    make_pod,
    make_replicaset,
    set_node_ready,
    set_pod_state,
)
from tests.watcher.conftest import FAST, MemorySink, informing
from watcher import WatchSettings

pytestmark = pytest.mark.anyio

PAGED = WatchSettings(**{**FAST.__dict__, "streaming_list": False, "list_page_size": 3})


def converged(sim: Simulator, sink: MemorySink, kinds: tuple[Kind, ...] = (Kind.POD,)) -> bool:
    return not any(differences(expected_rows(sim, k), sink.rows[k], k) for k in kinds)


def populate(sim: Simulator, pods: int = 10, nodes: int = 2) -> None:
    for i in range(pods):
        sim.store.create("pods", make_pod(f"p{i}"))
    for i in range(nodes):
        sim.store.create("nodes", make_node(f"n{i}"))


async def test_streaming_list_then_watch(sim: Simulator, sink: MemorySink) -> None:
    populate(sim)
    async with informing(sim, sink) as inf:
        assert converged(sim, sink, (Kind.POD, Kind.NODE))
        assert inf.stats.requests[("pods", "stream-list", "ok")] == 1
        assert not any(verb == "list" for (_, verb, _) in inf.stats.requests)
        set_pod_state(sim, "p1", waiting="CrashLoopBackOff", phase="Running", ready=False)
        set_node_ready(sim, "n0", "False")
        sim.store.delete("pods", "default", "p2")
        await sink.until(lambda: converged(sim, sink, (Kind.POD, Kind.NODE)))
        assert sink.rows[Kind.POD][_uid(sim, "p1")].status == "CrashLoopBackOff"
    assert [k for k, _, _ in sink.replaces].count(Kind.POD) == 1
    assert sink.streamed[Kind.POD] == 10  # the streaming list went in as puts, not a list
    synced = [f for k, f in sink.syncs if k == Kind.POD and f.get("synced")]
    assert synced[0]["listed"] is True


def _uid(sim: Simulator, name: str, namespace: str = "default") -> str:
    pod = sim.store.get("pods", namespace, name)
    assert pod is not None
    return str(pod["metadata"]["uid"])


async def test_paged_list_uses_limit_and_continue(sim: Simulator, sink: MemorySink) -> None:
    populate(sim, pods=10)
    async with informing(sim, sink, settings=PAGED) as inf:
        assert converged(sim, sink)
        assert inf.stats.requests[("pods", "list", "ok")] == 4  # 3 + 3 + 3 + 1
        assert sim.requests.count(verb="list", resource="pods") == 4
    # Streamed into the sink page by page, never handed over as one list.
    assert sink.streamed[Kind.POD] == 10
    assert [(k, n) for k, n, _ in sink.replaces if k == Kind.POD] == [(Kind.POD, 10)]


async def test_streaming_refused_falls_back_to_pages(sink: MemorySink) -> None:
    # A server that rejects sendInitialEvents (as API servers before the
    # WatchList feature do) must still be listed.
    async with Simulator(bookmark_interval=0.3) as sim:
        populate(sim, pods=4)
        sim.faults.fail_next(1, status=500, verb="watch", resource="pods")
        async with informing(sim, sink) as inf:
            assert converged(sim, sink)
            assert inf.stats.restarts_of("pods") == {"error": 1}


async def test_clean_close_resumes_without_relist(sim: Simulator, sink: MemorySink) -> None:
    populate(sim, pods=5)
    async with informing(sim, sink) as inf:
        sim.faults.close_watches_after(1, resource="pods")
        for i in range(5):
            set_pod_state(sim, f"p{i}", restarts=i + 1)
        await sink.until(lambda: converged(sim, sink))
        assert inf.stats.restarts[("pods", "closed")] >= 4
        assert inf.stats.relists["pods"] == 1
        assert inf.stats.restarts[("pods", "gone")] == 0


async def test_watch_410_relists_and_replaces(sim: Simulator, sink: MemorySink) -> None:
    populate(sim, pods=5)
    async with informing(sim, sink) as inf:
        # The next pods watch gets an ERROR 410 event; the clean close makes it reconnect.
        sim.faults.fail_next(1, status=410, verb="watch", resource="pods")
        sim.faults.close_watches_after(1, streams=1, resource="pods")
        set_pod_state(sim, "p0")
        await sink.until(lambda: inf.stats.relists["pods"] == 2)
        set_pod_state(sim, "p1", waiting="ImagePullBackOff", phase="Pending", ready=False)
        await sink.until(lambda: converged(sim, sink))
        assert inf.stats.restarts[("pods", "gone")] == 1
        reasons = {r: n for (k, r), n in inf.stats.relist_reasons.items() if k == "pods"}
        assert reasons == {"initial": 1, "gone": 1}
    assert [k for k, _, _ in sink.replaces].count(Kind.POD) == 2


async def test_410s_in_a_row_back_off_and_show_in_the_sync_state(
    sim: Simulator, sink: MemorySink
) -> None:
    """A server answering 410 to every watch must not get LISTs in a tight loop."""
    populate(sim, pods=3)
    async with informing(sim, sink, kinds=("pods",)) as inf:
        sim.faults.fail_next(4, status=410, verb="watch", resource="pods")
        sim.faults.close_watches_after(1, streams=1, resource="pods")
        set_pod_state(sim, "p0")
        await sink.until(lambda: inf.stats.restarts[("pods", "gone")] == 4)
        errors = [f["error"] for k, f in sink.syncs if k is Kind.POD and f.get("error")]
        # The first 410 relists at once; the following ones back off and report.
        assert len(errors) == 3
        assert "410" in errors[-1]
        set_pod_state(sim, "p1", restarts=3)
        await sink.until(lambda: converged(sim, sink))


@pytest.mark.parametrize("streaming", [True, False])
async def test_unreadable_object_is_skipped_not_retried_forever(
    sim: Simulator, sink: MemorySink, streaming: bool
) -> None:
    """One object the decoder rejects must not stall its kind, nor stop the agent."""
    populate(sim, pods=3)
    bad = make_pod("bad")
    bad["status"] = {"phase": "Running", "containerStatuses": "not a list"}
    sim.store.create("pods", bad)
    settings = WatchSettings(**{**FAST.__dict__, "streaming_list": streaming})
    async with informing(sim, sink, kinds=("pods",), settings=settings) as inf:
        assert {r.name for r in sink.rows[Kind.POD].values()} == {"p0", "p1", "p2"}
        broken = sim.store.get("pods", "default", "p0")
        assert broken is not None
        broken["status"] = {"phase": "Running", "containerStatuses": 7}
        sim.store.update("pods", broken, subresource="status")
        set_pod_state(sim, "p1", restarts=4)
        await sink.until(lambda: any(d.row.name == "p1" for d in sink.deltas))
        assert inf.stats.skipped["pods"] == 2
        assert inf.stats.restarts_of("pods") == {}


async def test_stall_then_compaction_relists_with_missed_deletions(
    sim: Simulator, sink: MemorySink
) -> None:
    populate(sim, pods=6)
    async with informing(sim, sink) as inf:
        sim.faults.stall_watches(resource="pods")
        # Changes the stalled stream does not deliver, then history is compacted:
        # the reconnect from the last resourceVersion gets 410 and must relist.
        sim.store.delete("pods", "default", "p0")
        sim.store.delete("pods", "default", "p1")
        sim.store.create("pods", make_pod("late"))
        sim.store.compact()
        await sink.until(lambda: inf.stats.restarts[("pods", "stalled")] >= 1)
        sim.faults.release_stalls()
        await sink.until(lambda: converged(sim, sink))
        assert inf.stats.restarts[("pods", "gone")] >= 1, (inf.stats.restarts, inf.stats.requests)
        names = {r.name for r in sink.rows[Kind.POD].values()}
        assert "p0" not in names
        assert "late" in names


async def test_410_on_continue_restarts_the_list(sink: MemorySink) -> None:
    async with Simulator(bookmark_interval=0.3, window=5) as sim:
        populate(sim, pods=9)
        sim.faults.delay(0.1, verb="list", resource="pods")

        async def expire_tokens() -> None:
            # Writes and compactions faster than pages: every continue token expires.
            for i in range(1000):
                ensure_namespace(sim, f"ns-{i}")
                sim.store.compact()
                await anyio.sleep(0.01)

        async with anyio.create_task_group() as tg:
            tg.start_soon(expire_tokens)
            async with informing(sim, sink, settings=PAGED, kinds=("pods",)) as inf:
                tg.cancel_scope.cancel()
                assert converged(sim, sink)
                # Twice 410 on a continue token; then one unpaged list, as client-go's pager.
                assert inf.stats.restarts[("pods", "continue-gone")] == 2
                assert inf.stats.relists["pods"] == 1


async def test_429_waits_for_retry_after(
    sim: Simulator, sink: MemorySink, caplog: pytest.LogCaptureFixture
) -> None:
    populate(sim, pods=3)
    sim.faults.fail_next(1, status=429, verb="watch", resource="pods", retry_after=1)
    async with informing(sim, sink, kinds=("pods",)) as inf:
        assert converged(sim, sink)
        assert inf.stats.restarts_of("pods") == {"throttled": 1}
        assert inf.stats.requests[("pods", "stream-list", "429")] == 1
    # The retry was scheduled after Retry-After: 1, not the 20 ms backoff.
    retries = [r.getMessage() for r in caplog.records if "throttled (429)" in r.getMessage()]
    assert retries, caplog.text
    assert "retrying in 1.0 s" in retries[0], retries


async def test_500s_back_off_and_recover(sim: Simulator, sink: MemorySink) -> None:
    populate(sim, pods=3)
    async with informing(sim, sink, kinds=("pods",)) as inf:
        sim.faults.fail_next(3, status=500, verb="watch", resource="pods")
        sim.faults.close_watches_after(1, streams=1, resource="pods")
        set_pod_state(sim, "p0")
        set_pod_state(sim, "p1", restarts=2)
        await sink.until(lambda: inf.stats.restarts[("pods", "error")] == 3)
        set_pod_state(sim, "p2", restarts=5)
        await sink.until(lambda: converged(sim, sink))
        assert inf.stats.relists["pods"] == 1  # 500s do not force a relist


async def test_malformed_line_reconnects_without_losing_the_event(
    sim: Simulator, sink: MemorySink
) -> None:
    populate(sim, pods=3)
    async with informing(sim, sink, kinds=("pods",)) as inf:
        sim.faults.send_malformed_line(1, resource="pods")
        set_pod_state(sim, "p0", waiting="CrashLoopBackOff", ready=False)  # replaced by garbage
        set_pod_state(sim, "p1", restarts=3)
        await sink.until(lambda: converged(sim, sink))
        assert inf.stats.restarts[("pods", "malformed")] == 1
        assert inf.stats.relists["pods"] == 1
        assert sink.rows[Kind.POD][_uid(sim, "p0")].status == "CrashLoopBackOff"


async def test_truncated_event_reconnects(sim: Simulator, sink: MemorySink) -> None:
    populate(sim, pods=3)
    async with informing(sim, sink, kinds=("pods",)) as inf:
        sim.faults.truncate_next_event(1, resource="pods")
        set_pod_state(sim, "p0", restarts=1)
        set_pod_state(sim, "p2", restarts=2)
        await sink.until(lambda: converged(sim, sink))
        assert sum(inf.stats.restarts_of("pods").values()) >= 1
        assert inf.stats.relists["pods"] == 1


async def test_simulator_restart_with_compaction(sim: Simulator, sink: MemorySink) -> None:
    populate(sim, pods=6)
    async with informing(sim, sink) as inf:
        # Changes no stream delivers, then the API server restarts with its
        # history compacted: every kind must relist, and the deletion show.
        sim.faults.stall_watches()
        sim.store.delete("pods", "default", "p3")
        set_pod_state(sim, "p4", waiting="ErrImagePull", phase="Pending", ready=False)
        set_node_ready(sim, "n1", "Unknown")
        await sim.restart(compact=True)
        sim.faults.release_stalls()
        await sink.until(lambda: converged(sim, sink, (Kind.POD, Kind.NODE)))
        assert inf.stats.restarts[("pods", "gone")] >= 1
        assert inf.stats.restarts[("nodes", "gone")] >= 1
        assert _uid(sim, "p4") in sink.rows[Kind.POD]
        assert "p3" not in {r.name for r in sink.rows[Kind.POD].values()}


async def test_namespaces_and_label_selector(sim: Simulator, sink: MemorySink) -> None:
    for ns in ("a", "b", "c"):
        ensure_namespace(sim, ns)
        for i in range(3):
            labels = {"team": "x" if i < 2 else "y"}
            sim.store.create("pods", make_pod(f"{ns}{i}", namespace=ns, labels=labels))
    sim.store.create("nodes", make_node("n0"))
    async with informing(
        sim, sink, namespaces=["a", "b"], label_selector="team=x", kinds=("pods", "nodes")
    ) as inf:
        names = sorted(r.name for r in sink.rows[Kind.POD].values())
        assert names == ["a0", "a1", "b0", "b1"]
        assert len(sink.rows[Kind.NODE]) == 1  # nodes: cluster-wide, no selector
        assert [k for k, _, _ in sink.replaces].count(Kind.POD) == 1  # one joined replace
        # A relist of one namespace emits DELETED for what it no longer has.
        sim.faults.stall_watches(resource="pods")
        sim.store.delete("pods", "a", "a0")
        sim.store.create("pods", make_pod("a9", namespace="a", labels={"team": "x"}))
        sim.store.create("pods", make_pod("c9", namespace="c", labels={"team": "x"}))
        sim.store.compact()
        await sink.until(lambda: inf.stats.restarts[("pods", "stalled")] >= 2)
        sim.faults.release_stalls()
        await sink.until(
            lambda: sorted(r.name for r in sink.rows[Kind.POD].values()) == ["a1", "a9", "b0", "b1"]
        )
        assert any(d.type == "DELETED" and d.row.name == "a0" for d in sink.deltas)
        assert inf.stats.relists["pods"] >= 3  # a and b, then a again after its 410


async def test_pods_linked_to_deployments_through_replicasets(
    sim: Simulator, sink: MemorySink
) -> None:
    sim.store.create("replicasets", make_replicaset("web-abc", deployment="web"))
    sim.store.create("replicasets", make_replicaset("odd-xyz", deployment="other"))
    sim.store.create("replicasets", make_replicaset("solo", deployment=None))
    sim.store.create(
        "pods",
        make_pod("web-abc-1", labels={"pod-template-hash": "abc"}, owner=("ReplicaSet", "web-abc")),
    )
    sim.store.create(
        "pods",
        make_pod("odd-xyz-1", labels={"pod-template-hash": "xyz"}, owner=("ReplicaSet", "odd-xyz")),
    )
    sim.store.create("pods", make_pod("solo-1", owner=("ReplicaSet", "solo")))
    async with informing(sim, sink, kinds=("pods",)):
        by_name = {r.name: r for r in sink.rows[Kind.POD].values()}
        assert by_name["web-abc-1"].deployment == "web"
        assert by_name["odd-xyz-1"].deployment == "other"  # the ReplicaSet's owner wins
        assert by_name["solo-1"].deployment is None
        # A pod seen before its ReplicaSet: derived first, corrected when the RS arrives.
        sim.store.create(
            "pods",
            make_pod(
                "new-q1-1", labels={"pod-template-hash": "q1"}, owner=("ReplicaSet", "new-q1")
            ),
        )
        await sink.until(lambda: any(r.name == "new-q1-1" for r in sink.rows[Kind.POD].values()))
        assert _row(sink, "new-q1-1").deployment == "new"
        sim.store.create("replicasets", make_replicaset("new-q1", deployment="renamed"))
        await sink.until(lambda: _row(sink, "new-q1-1").deployment == "renamed")


def _row(sink: MemorySink, name: str):  # type: ignore[no-untyped-def]
    return next(r for r in sink.rows[Kind.POD].values() if r.name == name)


async def test_relist_on_request(sim: Simulator, sink: MemorySink) -> None:
    # What the store's on_reset hook triggers after it had to start over empty.
    populate(sim, pods=4)
    async with informing(sim, sink, kinds=("pods",)) as inf:
        sink.rows[Kind.POD].clear()  # the store lost everything
        inf.relist()
        await sink.until(lambda: converged(sim, sink))
        assert inf.stats.relists["pods"] == 2
        assert inf.stats.restarts[("pods", "relist-requested")] == 1
        assert inf.stats.relist_reasons[("pods", "requested")] == 1
