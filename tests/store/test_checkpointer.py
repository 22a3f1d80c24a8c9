"""Background checkpoints: the WAL reaches the database file without the writer waiting."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

import anyio
import pytest

from store import Delta, Kind, StoreSettings, open_store
from store.checkpointer import Checkpointer

from .factories import pod

pytestmark = pytest.mark.anyio


def _pods_in_file_alone(path: Path, tmp_path: Path) -> int:
    """Pods in the database file itself, without its WAL: what a checkpoint copied back."""
    alone = tmp_path / "alone.db"
    shutil.copyfile(path, alone)
    with sqlite3.connect(alone) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'pods'").fetchone():
            return 0  # not even the schema was copied back yet
        return int(db.execute("SELECT count(*) FROM pods").fetchone()[0])


async def test_committed_rows_reach_the_file_once_enough_piled_up(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    settings = StoreSettings(checkpoint_after_rows=50)
    async with open_store(path, settings=settings) as store:
        checkpointer = store.writer.checkpointer
        await store.writer.put_many([Delta(Kind.POD, "ADDED", pod(f"a-{i}")) for i in range(10)])
        await store.writer.flush()
        assert checkpointer.attempts == 0  # 10 rows: not due yet
        assert _pods_in_file_alone(path, tmp_path) == 0

        await store.writer.put_many([Delta(Kind.POD, "ADDED", pod(f"b-{i}")) for i in range(60)])
        await store.writer.flush()
        with anyio.fail_after(10):
            await checkpointer.wait_idle()
        assert checkpointer.checkpoints == 1
        assert _pods_in_file_alone(path, tmp_path) == 70


async def test_a_missing_file_is_never_created_and_the_failure_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gone.db"
    checkpointer = Checkpointer(path, every_rows=1)
    caplog.set_level(logging.WARNING, logger="store")
    async with anyio.create_task_group() as tg:
        tg.start_soon(checkpointer.run)
        for attempt in (1, 2):
            checkpointer.committed(5)
            with anyio.fail_after(10):
                await checkpointer.wait_idle()
            assert checkpointer.attempts == attempt
        tg.cancel_scope.cancel()
    assert not path.exists()
    assert checkpointer.checkpoints == 0
    warnings = [r for r in caplog.records if "background checkpoint failed" in r.message]
    assert len(warnings) == 1

    # Once the file exists, the next round works.
    sqlite3.connect(path).close()
    async with anyio.create_task_group() as tg:
        tg.start_soon(checkpointer.run)
        checkpointer.committed(5)
        with anyio.fail_after(10):
            await checkpointer.wait_idle()
        tg.cancel_scope.cancel()
    await checkpointer.aclose()
    assert checkpointer.checkpoints == 1


def _wal_db_with_rows(path: Path, rows: int) -> sqlite3.Connection:
    """A WAL database whose `t` rows live only in its WAL (no automatic checkpoint)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute("CREATE TABLE t (x)")
    db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(rows)])
    return db


def _move_aside(path: Path) -> None:
    path.rename(path.with_name(path.name + ".corrupt"))
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _rows_in_file_alone(path: Path, tmp_path: Path) -> int:
    alone = tmp_path / "alone-t.db"
    shutil.copyfile(path, alone)
    with sqlite3.connect(alone) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 't'").fetchone():
            return 0
        return int(db.execute("SELECT count(*) FROM t").fetchone()[0])


async def test_no_checkpoint_while_suspended_and_the_new_file_is_used_after(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    old = _wal_db_with_rows(path, 3)
    checkpointer = Checkpointer(path, every_rows=1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(checkpointer.run)
        checkpointer.committed(1)
        with anyio.fail_after(10):
            await checkpointer.wait_idle()
        assert checkpointer.checkpoints == 1  # connected to the first file

        async with checkpointer.suspended():
            # What the writer does with a corrupt file: move it aside, start anew.
            old.close()
            _move_aside(path)
            checkpointer.committed(1)  # due meanwhile: must not touch either file
            with anyio.fail_after(10):
                await checkpointer.wait_idle()
            assert checkpointer.checkpoints == 1
            new = _wal_db_with_rows(path, 5)
        assert _rows_in_file_alone(path, tmp_path) == 0

        checkpointer.committed(1)
        with anyio.fail_after(10):
            await checkpointer.wait_idle()
        tg.cancel_scope.cancel()
    assert checkpointer.checkpoints == 2
    assert _rows_in_file_alone(path, tmp_path) == 5  # the new file was checkpointed
    await checkpointer.aclose()
    new.close()
