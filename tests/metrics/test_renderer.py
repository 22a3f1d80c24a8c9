"""The objects-mode renderer: in a child process as in a thread, the same bytes; crashes heal."""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from mcpserver.ksm.collector import ClusterCollector
from mcpserver.ksm.renderer import (
    KEEP_SNAPSHOTS,
    Renderer,
    RenderRequest,
    read_frame,
    serve,
    write_frame,
)
from mcpserver.ksm.worker import LocalRenderer, RenderFailed, RenderWorker, _Child
from store import Delta, Kind, open_store
from tests.metrics.conftest import key, parse_openmetrics, parse_text, samples
from tests.store.factories import crash_looping, deployment, evolve, node, pod

pytestmark = pytest.mark.anyio

HEAD = b'# HELP agent_up The agent.\n# TYPE agent_up gauge\nagent_up{replica="a"} 1\n'


async def _fill(path: Path) -> list[object]:
    pods = [pod(f"web-{i}") for i in range(30)]
    async with open_store(path) as store:
        await store.writer.apply(
            [Delta(Kind.POD, "ADDED", p) for p in pods]
            + [Delta(Kind.NODE, "ADDED", node()), Delta(Kind.DEPLOYMENT, "ADDED", deployment())]
        )
    return list(pods)


def _text(chunks: list[bytes]) -> str:
    return gzip.decompress(b"".join(chunks)).decode()


async def test_the_process_renders_what_the_thread_renders(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    await _fill(path)
    worker, local = RenderWorker(path), LocalRenderer(path)
    try:
        with anyio.fail_after(30):
            built = await worker.build()
            await local.build()  # the same state: its snapshot gets the same number
            assert (built.pods, built.deployments, built.nodes) == (30, 1, 1)
            request = RenderRequest(id=built.id, openmetrics=True, head=HEAD, tail=b"# EOF\n")
            text = _text(await worker.render(request))
            assert text == _text(await local.render(request))
        assert worker.pid is not None
    finally:
        await worker.aclose()
        await local.aclose()
    assert text.startswith(HEAD.decode())
    fams = {f.name: f for f in parse_openmetrics(text)}  # strict: one EOF, at the end
    assert samples(fams, "agent_up") == {key(replica="a"): 1.0}
    assert samples(fams, "kube_watchcache_metrics_cluster_mode") == {key(mode="objects"): 1.0}
    assert len(samples(fams, "kube_pod_info")) == 30
    assert worker.pid is None  # closed: the child is gone


async def test_a_dead_renderer_fails_one_scrape_and_the_next_starts_another(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    await _fill(path)
    worker = RenderWorker(path)
    try:
        with anyio.fail_after(30):
            first = await worker.build()
            pid = worker.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(RenderFailed, match="died"):
                await worker.render(
                    RenderRequest(id=first.id, openmetrics=False, head=b"", tail=b"")
                )
            again = await worker.build()
            text = _text(
                await worker.render(
                    RenderRequest(id=again.id, openmetrics=False, head=b"", tail=b"")
                )
            )
    finally:
        await worker.aclose()
    assert worker.starts == 2
    assert len(samples({f.name: f for f in parse_text(text)}, "kube_pod_info")) == 30


async def test_a_store_the_renderer_cannot_read_is_a_clear_failure(tmp_path: Path) -> None:
    worker = RenderWorker(tmp_path / "nowhere" / "state.db")
    try:
        with anyio.fail_after(30), pytest.raises(RenderFailed, match="nowhere"):
            await worker.build()
        assert worker.pid is not None  # the process lives on for the next scrape
    finally:
        await worker.aclose()


async def test_coalesced_scrapes_render_their_own_snapshot_after_later_builds(
    tmp_path: Path,
) -> None:
    """A snapshot stays renderable for KEEP_SNAPSHOTS builds, and shows the state it was read at."""
    path = tmp_path / "state.db"
    pods = await _fill(path)
    renderer = Renderer(path)
    first = renderer.build()
    async with open_store(path) as store:
        crashed = evolve(pods[0], containers=(crash_looping(),))
        await store.writer.apply([Delta(Kind.POD, "MODIFIED", crashed)])
    later = [renderer.build() for _ in range(KEEP_SNAPSHOTS - 1)]
    assert renderer.reader.pods_decoded == 0  # nothing changed between the later builds

    def waiting(number: int) -> dict[tuple[tuple[str, str], ...], float]:
        request = RenderRequest(id=number, openmetrics=False, head=b"", tail=b"")
        fams = {f.name: f for f in parse_text(_text(list(renderer.render(request))))}
        return samples(fams, "kube_pod_container_status_waiting_reason", keep=("reason",))

    assert waiting(first.id) == {}
    assert waiting(later[-1].id) == {key(reason="CrashLoopBackOff"): 1.0}
    renderer.build()
    with pytest.raises(LookupError, match="gone"):
        list(renderer.render(RenderRequest(id=first.id, openmetrics=False, head=b"", tail=b"")))


def test_the_protocol_answers_bad_requests_and_stops_at_the_end_of_input(tmp_path: Path) -> None:
    requests = io.BytesIO()
    write_frame(requests, b"R", b"\xc1 not msgpack")
    write_frame(requests, b"?")
    write_frame(requests, b"B")
    requests.write(b"R\x00\x00")  # a header cut short: the agent went away
    requests.seek(0)
    replies = io.BytesIO()
    serve(Renderer(tmp_path / "missing.db"), requests, replies)
    replies.seek(0)
    kinds = [read_frame(replies) for _ in range(3)]
    assert [k for k, _payload in kinds] == [b"X", b"X", b"X"]
    assert b"unknown request" in kinds[1][1]
    assert b"missing.db" in kinds[2][1]
    assert replies.read() == b""


class _CannotRun(RenderWorker):
    """A renderer whose process ends at once, as where `python -m` cannot run it."""

    def _spawn(self) -> _Child:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.exit(3)"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.starts += 1
        return _Child(proc)


async def test_where_no_renderer_process_runs_objects_mode_renders_in_a_thread(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    await _fill(path)
    async with open_store(path) as store:
        cluster = ClusterCollector(store, mode="objects")
        cluster.renderer = _CannotRun(path)
        try:
            with anyio.fail_after(30):
                snapshot = await cluster.snapshot()
                body = await cluster.render(snapshot, head=b"", tail=b"", openmetrics=False)
        finally:
            await cluster.aclose()
    assert isinstance(cluster.renderer, LocalRenderer)
    assert len(samples({f.name: f for f in parse_text(_text(body))}, "kube_pod_info")) == 30
