"""Bad storage: crashes, corrupt files, read-only places, full disks, old schemas."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import aiosqlite
import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from store import Delta, Kind, StoreSettings, StoreUnavailable, open_store
from store.schema import LATEST_VERSION, migrate
from store.storage import PAGE_SIZE

from .factories import pod

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]


def _aside(directory: Path) -> list[Path]:
    return sorted(directory.glob("state.db.corrupt-*"))


def _integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys, anyio
    sys.path.insert(0, {repo!r})
    from store import Delta, Kind, PodRow, StoreSettings, open_store

    async def main():
        settings = StoreSettings(batch_rows=200, batch_interval_s=0.001)
        async with open_store({path!r}, settings=settings) as store:
            n = 0
            while True:
                for _ in range(200):
                    await store.writer.put(Delta(Kind.POD, "ADDED", PodRow(
                        uid=f"u{{n}}", namespace="ns", name=f"p{{n}}", resource_version=str(n),
                        phase="Running" if n % 3 else "Pending", obj=b"x" * 2000)))
                    n += 1
                await store.writer.flush()
                print("committed", n, flush=True)

    anyio.run(main)
    """
)


async def test_killed_mid_stream_reopens_intact(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    script = WRITER_SCRIPT.format(repo=str(REPO), path=str(path))
    committed = 0
    with anyio.fail_after(60):
        async with await anyio.open_process([sys.executable, "-c", script]) as proc:
            assert proc.stdout is not None
            lines = BufferedByteReceiveStream(proc.stdout)
            while committed < 3000:
                line = await lines.receive_until(b"\n", 1000)
                committed = int(line.split()[1])
            # More batches are in flight right now; kill without any chance to clean up.
            proc.send_signal(signal.SIGKILL)
            assert await proc.wait() == -signal.SIGKILL
    assert _integrity(path) == "ok"
    async with open_store(path) as store:
        assert store.healthy
        held = store.view.objects(Kind.POD)
        assert held >= committed  # every flushed batch survived the kill
        assert (await store.reader.count(Kind.POD))[0].count == held
        pending = await store.reader.count(Kind.POD, group_by="phase")
        assert sum(g.count for g in pending) == held
        # Rows and history come from the same transactions: every Running-but-not-ready pod
        # has exactly its first-sighting transition, and no transition outlived its row.
        running = await store.reader.query("SELECT count(*) FROM pods WHERE phase = 'Running'")
        history = await store.reader.query("SELECT count(*) FROM transitions WHERE field = 'ready'")
        orphans = await store.reader.query(
            "SELECT count(*) FROM transitions t "
            "WHERE NOT EXISTS (SELECT 1 FROM pods p WHERE p.uid = t.uid)"
        )
        assert history.rows == running.rows
        assert running.rows[0][0] > 0
        assert orphans.rows == [[0]]
        await store.writer.apply([Delta(Kind.POD, "ADDED", pod("after-crash"))])
    assert _integrity(path) == "ok"


async def test_random_bytes_are_moved_aside_and_the_store_starts_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(os.urandom(64 * 1024))
    with caplog.at_level(logging.ERROR, logger="store"):
        async with open_store(path) as store:
            assert store.healthy
            assert store.view.objects(Kind.POD) == 0
            await store.writer.apply([Delta(Kind.POD, "ADDED", pod())])
            assert (await store.reader.count(Kind.POD))[0].count == 1
    aside = _aside(tmp_path)
    assert len(aside) == 1
    assert aside[0].stat().st_size == 64 * 1024
    lines = [r.getMessage() for r in caplog.records if "moved it aside" in r.getMessage()]
    assert len(lines) == 1
    assert str(aside[0]) in lines[0]
    assert _integrity(path) == "ok"


async def test_damaged_pages_are_detected_on_open(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with open_store(path) as store:
        await store.writer.replace(
            Kind.POD, [pod(f"p-{i}", obj=b"y" * 3000) for i in range(200)], "1"
        )
        await store.writer.flush()
    size = path.stat().st_size
    with path.open("r+b") as f:  # scribble over the middle of the file, past the header
        f.seek(size // 2)
        f.write(os.urandom(16 * 4096))
    async with open_store(path) as store:
        assert store.healthy
        assert store.view.objects(Kind.POD) == 0
    assert _aside(tmp_path)


async def test_a_schema_from_the_future_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
    db.close()
    async with open_store(path) as store:
        assert store.healthy
    assert _aside(tmp_path)


async def test_an_older_schema_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    await migrate(conn, target=1)
    await conn.execute(
        "INSERT INTO pods (uid, namespace, name, resource_version, labels, phase, ready, status, "
        "unschedulable, conditions, containers, restarts, cpu_request_m, cpu_limit_m, "
        "memory_request_bytes, memory_limit_bytes, obj) VALUES "
        "('u1', 'ns', 'old-pod', '7', '{}', 'Running', 1, 'Running', 0, '{}', '[]', "
        "2, 100, 0, 0, 0, x'7b7d')"
    )
    await conn.close()
    async with open_store(path) as store:
        got = await store.reader.get_pod("ns", "old-pod")
        assert got is not None
        assert (got.restarts, got.cpu_request_m, got.ready) == (2, 100, True)
        assert store.view.cluster.cpu_request_m == 100
        version = await store.reader.query("SELECT count(*) FROM pods WHERE problem = 0")
        assert version.rows == [[1]]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    # An existing file keeps its page size: changing it would rewrite the whole file.
    assert db.execute("PRAGMA page_size").fetchone()[0] == 4096 != PAGE_SIZE
    db.close()


async def test_a_new_file_gets_pages_that_hold_a_whole_pod(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    big = pod("big", obj=b'{"spec":"' + b"x" * 5000 + b'"}')
    async with open_store(path) as store:
        await store.writer.apply([Delta(Kind.POD, "ADDED", big)])
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    # The pod's row is in one page: no overflow page was needed.
    overflow = db.execute(
        "SELECT count(*) FROM dbstat WHERE name = 'pods' AND pagetype = 'overflow'"
    )
    assert overflow.fetchone()[0] == 0
    db.close()


async def test_full_disk_marks_unhealthy_keeps_the_batch_and_recovers(tmp_path: Path) -> None:
    settings = StoreSettings(max_db_bytes=400 * 1024, retry_initial_s=0.02, retry_max_s=0.1)
    async with open_store(tmp_path / "state.db", settings=settings) as store:
        turned: list[tuple[bool, str | None]] = []
        unhealthy = anyio.Event()

        def watch(healthy: bool, error: str | None) -> None:
            turned.append((healthy, error))
            if not healthy:
                unhealthy.set()

        store.writer.on_health(watch)
        for i in range(100):
            await store.writer.put(Delta(Kind.POD, "ADDED", pod(f"big-{i:03d}", obj=b"z" * 20_000)))
        with anyio.fail_after(15):
            await unhealthy.wait()
        assert not store.healthy
        assert store.last_error is not None
        assert "full" in store.last_error
        # Readers still answer from what was committed.
        committed = (await store.reader.count(Kind.POD))[0].count
        assert committed < 100
        await store.writer.set_size_limit(None)
        with anyio.fail_after(15):
            await store.writer.flush()
        assert store.writer.last_error is None
        assert turned[-1] == (True, None)
        assert (await store.reader.count(Kind.POD))[0].count == 100
        assert turned[0][0] is False
        assert turned[-1] == (True, None)


READONLY_SCRIPT = textwrap.dedent(
    """
    import json, sys, anyio
    sys.path.insert(0, {repo!r})
    from store import StoreSettings, StoreUnavailable, open_store

    async def main():
        settings = StoreSettings(retry_initial_s=0.05)
        async with open_store({path!r}, settings=settings) as store:
            out = {{"healthy": store.healthy, "last_error": store.last_error}}
            try:
                await store.reader.list_pods()
                out["read"] = "ok"
            except StoreUnavailable as e:
                out["read"] = str(e)
        print(json.dumps(out), flush=True)

    anyio.run(main)
    """
)


def _run_without_root_powers(script: str) -> dict[str, object]:
    prefix: list[str] = []
    if os.geteuid() == 0:  # root ignores file modes; drop the capabilities that let it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a directory read-only to us")
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
    result = subprocess.run(
        [*prefix, sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_read_only_directory_is_a_clear_error_and_unhealthy(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o555)
    try:
        out = _run_without_root_powers(
            READONLY_SCRIPT.format(repo=str(REPO), path=str(directory / "state.db"))
        )
    finally:
        directory.chmod(0o755)
    assert out["healthy"] is False
    assert "cannot write database" in str(out["last_error"])
    assert str(directory / "state.db") in str(out["last_error"])
    assert "cannot write database" in str(out["read"])
    assert not list(directory.iterdir())  # nothing created, nothing moved


def test_unwritable_file_is_a_clear_error_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"

    async def seed() -> None:
        async with open_store(path) as store:
            await store.writer.apply([Delta(Kind.POD, "ADDED", pod())])

    anyio.run(seed)
    before = path.read_bytes()
    path.chmod(0o444)
    try:
        out = _run_without_root_powers(READONLY_SCRIPT.format(repo=str(REPO), path=str(path)))
    finally:
        path.chmod(0o644)
    assert out["healthy"] is False
    assert "read-only" in str(out["last_error"])
    assert path.read_bytes() == before
    assert not _aside(tmp_path)


async def test_store_recovers_when_the_path_becomes_usable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    path = blocker / "state.db"
    settings = StoreSettings(retry_initial_s=0.02, retry_max_s=0.05)
    async with open_store(path, settings=settings) as store:
        assert not store.healthy
        assert "cannot write database" in (store.last_error or "")
        with pytest.raises(StoreUnavailable):
            await store.reader.list_pods()
        await store.writer.put(Delta(Kind.POD, "ADDED", pod()))  # queued, not lost
        recovered = anyio.Event()
        store.writer.on_health(lambda healthy, _e: recovered.set() if healthy else None)
        blocker.unlink()
        with anyio.fail_after(10):
            await recovered.wait()
            await store.writer.flush()
        assert [p.name for p in (await store.reader.list_pods()).items] == [pod().name]
