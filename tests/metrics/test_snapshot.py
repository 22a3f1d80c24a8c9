"""The store snapshot the exporter reads: consistent, incremental, and robust to odd rows."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mcpserver.ksm.renderer import Renderer, RenderRequest
from store import Delta, Kind, StoreUnavailable, Taint, open_store
from store.snapshot import ObjectsReader, read_objects
from tests.metrics.conftest import key, parse_text, samples
from tests.store.factories import crash_looping, deployment, evolve, node, pod

pytestmark = pytest.mark.anyio


async def test_a_reader_decodes_only_what_changed_and_matches_a_full_read(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    pods = [pod(f"web-{i}") for i in range(20)]
    async with open_store(path) as store:
        await store.writer.apply(
            [Delta(Kind.POD, "ADDED", p) for p in pods]
            + [Delta(Kind.NODE, "ADDED", node()), Delta(Kind.DEPLOYMENT, "ADDED", deployment())]
        )
        reader = ObjectsReader(path)
        first = reader.read()
        assert reader.pods_decoded == 20
        assert len(first.deployments) == len(first.nodes) == 1

        crashed = evolve(pods[3], containers=(crash_looping(),))
        await store.writer.apply(
            [
                Delta(Kind.POD, "MODIFIED", crashed),
                Delta(Kind.POD, "DELETED", pods[7]),
                Delta(Kind.POD, "ADDED", pod("web-new")),
            ]
        )
        second = reader.read()
        assert reader.pods_decoded == 2  # the crashed pod and the new one
        fresh = read_objects(path)
    by_uid = {p.uid: p for p in second.pods}
    assert by_uid == {p.uid: p for p in fresh.pods}
    assert pods[7].uid not in by_uid
    assert by_uid[crashed.uid].containers[0].waiting_reason == "CrashLoopBackOff"
    unchanged = {p.uid: p for p in first.pods if p.uid not in (crashed.uid, pods[7].uid)}
    assert all(by_uid[uid] is p for uid, p in unchanged.items())


async def test_rows_without_a_json_object_keep_their_own_fields(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with open_store(path) as store:
        await store.writer.apply(
            [
                Delta(Kind.POD, "ADDED", pod("plain")),  # obj holds no spec nor owners
                Delta(Kind.POD, "ADDED", pod("odd", obj=b"not json at all")),
                Delta(Kind.NODE, "ADDED", node(obj=b"{}")),
            ]
        )
    snapshot = read_objects(path)
    assert {p.name for p in snapshot.pods} == {"plain", "odd"}
    for p in snapshot.pods:
        assert [(o.kind, o.name, o.controller) for o in p.owners] == [
            ("ReplicaSet", "web-7d9f8b6c5", True)
        ]
    (n,) = snapshot.nodes
    assert n.allocatable == {"cpu": "3800m", "memory": str(15 * 2**30), "pods": "110"}


def test_a_missing_database_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        read_objects(tmp_path / "nowhere" / "state.db")


async def test_label_values_survive_escaping_and_the_cache_follows_changes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    tricky = 'quote " backslash \\ newline \n end'
    tainted = node(taints=(Taint(key="example.com/odd", value=tricky, effect="NoSchedule"),))
    async with open_store(path) as store:
        await store.writer.apply(
            [Delta(Kind.NODE, "ADDED", tainted), Delta(Kind.POD, "ADDED", pod("web-0"))]
        )
        renderer = Renderer(path)

        def text() -> str:
            built = renderer.build()
            request = RenderRequest(id=built.id, openmetrics=False, head=b"", tail=b"")
            return gzip.decompress(b"".join(renderer.render(request))).decode()

        first = text()
        fams = {f.name: f for f in parse_text(first)}
        assert samples(fams, "kube_node_spec_taint") == {
            key(node="node-a", key="example.com/odd", value=tricky, effect="NoSchedule"): 1.0
        }
        assert renderer.blocks.pods.rendered == 1

        assert text() == first
        assert renderer.blocks.rendered == 0  # nothing changed: every line reused
        assert renderer.blocks.compressed == 0

        await store.writer.apply(
            [Delta(Kind.NODE, "MODIFIED", evolve(tainted, unschedulable=True))]
        )
        changed = text()
    fams = {f.name: f for f in parse_text(changed)}
    assert samples(fams, "kube_node_spec_unschedulable") == {key(node="node-a"): 1.0}
    assert renderer.blocks.nodes.rendered == 1
    assert renderer.blocks.compressed == 1  # one family of one block: unschedulable
