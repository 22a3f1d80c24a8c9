"""The writer's pipeline: a batch prepared while the one before executes, in order, safely."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from store import Delta, Kind, StoreSettings, Transition, open_store
from store.statements import NARROW_UPDATE, many_rows
from store.storage import connect_writer, run_in_thread

from .factories import crash_looping, evolve, pod, poison_pod_rows

pytestmark = pytest.mark.anyio


def _committed_ids(path: Path) -> set[int]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT id FROM transitions")}


def _committed_within(path: Path, pod_name: str, *, seconds: float) -> bool:
    """Whether a pod named `pod_name` is committed to the file within `seconds` (polls)."""
    deadline = time.monotonic() + seconds
    db = sqlite3.connect(path)
    try:
        while time.monotonic() < deadline:
            if db.execute("SELECT 1 FROM pods WHERE name = ?", (pod_name,)).fetchone():
                return True
            time.sleep(0.005)
        return False
    finally:
        db.close()


async def test_batches_are_published_in_commit_order_and_only_after_their_commit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    # Small batches and a burst put without yielding: each batch is prepared
    # while the one before it executes.
    settings = StoreSettings(batch_rows=7, batch_interval_s=0.001)
    async with open_store(path, settings=settings) as store:
        heard: list[list[int]] = []
        unseen: list[int] = []

        def subscriber(transitions: Sequence[Transition]) -> None:
            ids = [t.id for t in transitions if t.id is not None]
            heard.append(ids)
            on_disk = _committed_ids(path)  # a separate connection: only committed rows
            unseen.extend(i for i in ids if i not in on_disk)

        store.writer.subscribe(subscriber)
        for i in range(120):
            broken = pod(f"p-{i:03d}", containers=(crash_looping(),), ready=False)
            await store.writer.put(Delta(Kind.POD, "ADDED", broken))
        await store.writer.flush()
        assert len(heard) > 5  # many batches, so the pipeline had something to overlap
        assert unseen == []
        flat = [i for ids in heard for i in ids]
        assert flat == sorted(flat)
        assert len(flat) == len(set(flat))
        assert store.view.objects(Kind.POD) == 120


async def test_the_next_batch_goes_to_sqlite_before_the_one_before_is_published(
    tmp_path: Path,
) -> None:
    """The moment a batch commits, the batch prepared behind it executes, without the writer.

    The subscriber of the first batch holds the event loop until the second
    batch is on disk. Only SQLite's thread can run then, so the second batch
    commits only if it was handed over before the first was published.
    """
    path = tmp_path / "s.db"
    settings = StoreSettings(batch_rows=1, batch_interval_s=0.001)
    async with open_store(path, settings=settings) as store:
        second_seen: list[bool] = []

        def subscriber(transitions: Sequence[Transition]) -> None:
            if any(t.name == "first" for t in transitions):
                second_seen.append(_committed_within(path, "second", seconds=5.0))

        store.writer.subscribe(subscriber)
        # The first batch waits in SQLite's thread for this lock, so the second
        # is certainly prepared behind it (one row per batch) before it commits.
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            for name in ("first", "second"):
                broken = pod(name, containers=(crash_looping(),), ready=False)
                await store.writer.put(Delta(Kind.POD, "ADDED", broken))
            await anyio.wait_all_tasks_blocked()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        with anyio.fail_after(10):
            await store.writer.flush()
        assert second_seen == [True]


async def test_the_batch_after_a_dropped_one_is_prepared_again_from_the_reloaded_state(
    tmp_path: Path,
) -> None:
    """Batch N fails for good while N+1 is prepared: N+1 must not build on N's memory."""
    path = tmp_path / "s.db"
    settings = StoreSettings(batch_rows=1, batch_interval_s=0.001)
    async with open_store(path, settings=settings) as store:
        await store.writer.apply([Delta(Kind.POD, "ADDED", pod("fine"))])
        poison_pod_rows(path)
        relist = anyio.Event()
        store.writer.on_reset(relist.set)
        heard: list[str] = []
        store.writer.subscribe(lambda ts: heard.extend(t.name for t in ts))
        # One row per batch: the poisoned pod is batch N, `after` is N+1,
        # prepared while N executes and fails.
        await store.writer.put(
            Delta(Kind.POD, "ADDED", pod("poison", containers=(crash_looping(),), ready=False))
        )
        await store.writer.put(
            Delta(Kind.POD, "ADDED", pod("after", containers=(crash_looping(),), ready=False))
        )
        with anyio.fail_after(10):
            await store.writer.flush()
            await relist.wait()
        assert store.writer.dropped_rows == 1
        assert "poison" not in heard
        assert "after" in heard
        assert await store.reader.get_pod("shop", "after") is not None
        # The writer remembers `after`: its deletion is written, not skipped as unknown.
        await store.writer.apply([Delta(Kind.POD, "DELETED", pod("after"))])
        assert await store.reader.get_pod("shop", "after") is None
        assert await store.reader.get_pod("shop", "poison") is None
        assert store.view.objects(Kind.POD) == 1


async def test_updates_of_one_pod_in_one_batch_leave_its_last_state(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with open_store(path) as store:
        first = pod("web")
        await store.writer.apply([Delta(Kind.POD, "ADDED", first)])
        others = [pod(f"other-{i}") for i in range(5)]
        updates = [Delta(Kind.POD, "ADDED", p) for p in others]
        for count in (1, 2, 3):  # narrow updates of one uid, interleaved with inserts
            updates.append(Delta(Kind.POD, "MODIFIED", evolve(first, restarts=count)))
            updates += [Delta(Kind.POD, "MODIFIED", evolve(p, restarts=count)) for p in others[:2]]
        await store.writer.apply(updates)
        got = await store.reader.get_pod("shop", "web")
        assert got is not None
        assert got.restarts == 3
        restarts = []
        for p in others:
            row = await store.reader.get_pod("shop", p.name)
            assert row is not None
            restarts.append(row.restarts)
        assert restarts == [3, 3, 0, 0, 0]


def test_many_rows_keeps_the_last_narrow_update_of_each_uid_and_every_row_once() -> None:
    sql = NARROW_UPDATE[Kind.POD]
    width = sql.count("?")  # the numbered parameters cover the whole upsert tuple
    assert width >= 2
    uid_at = 0  # `uid` is the pod row's first field
    rows = [tuple([f"u{i % 70}", i] + [None] * 3) for i in range(300)]
    statements = list(many_rows(sql, rows))
    flat = [v for _text, values in statements for v in values]
    per_row = len(rows[0])
    got = [tuple(flat[i : i + per_row]) for i in range(0, len(flat), per_row)]
    assert len(got) == 70
    assert {r[uid_at]: r[1] for r in got} == {f"u{i % 70}": i for i in range(300)}
    # Powers of two: 70 = 64 + 4 + 2.
    assert [text.count("),(") + 1 for text, _ in statements] == [64, 4, 2]


def test_many_rows_keeps_every_row_of_other_statements_in_order() -> None:
    sql = "INSERT INTO unknown VALUES (?)"
    assert list(many_rows(sql, [(1,), (2,)])) == [(sql, [1]), (sql, [2])]


async def test_run_in_thread_runs_on_the_connections_thread_with_its_connection(
    tmp_path: Path,
) -> None:
    """Pins what `run_in_thread` relies on in aiosqlite (its private `_execute`)."""
    conn = await connect_writer(tmp_path / "s.db", StoreSettings())
    try:

        def probe(db: sqlite3.Connection, x: int) -> tuple[int, int]:
            return threading.get_ident(), db.execute("SELECT ? + 1", (x,)).fetchone()[0]

        ident, value = await run_in_thread(conn, probe, 41)
        assert value == 42
        assert ident != threading.get_ident()
        with pytest.raises(sqlite3.OperationalError):
            await run_in_thread(conn, lambda db: db.execute("SELECT * FROM missing"))
    finally:
        await conn.close()


async def test_a_flush_cuts_a_long_batch_interval_short(tmp_path: Path) -> None:
    """The writer sleeps through the interval instead of waking per delta; a flush wakes it."""
    with anyio.fail_after(10):
        settings = StoreSettings(batch_interval_s=60.0)
        async with open_store(tmp_path / "s.db", settings=settings) as store:
            await store.writer.put(Delta(Kind.POD, "ADDED", pod("a")))
            await anyio.wait_all_tasks_blocked()  # the writer now waits for a fuller batch
            await store.writer.put(Delta(Kind.POD, "ADDED", pod("b")))
            await store.writer.flush()
            assert store.view.objects(Kind.POD) == 2
            await store.writer.put(Delta(Kind.POD, "ADDED", pod("c")))
            await anyio.wait_all_tasks_blocked()
        # Leaving the store closed the queue, which also cuts the wait short; "c" is committed.
        async with open_store(tmp_path / "s.db") as again:
            assert again.view.objects(Kind.POD) == 3
